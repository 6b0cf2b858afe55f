import Synchronization

/// Wakes one waiting loop when something it waits for happened: ``signal()`` is remembered until
/// the next ``wait()``, which then returns at once, so no signal is lost between two waits.
/// Replaces polling a flag on a timer.
///
/// Thread-safe. Meant for one waiter at a time; a second concurrent waiter replaces the first,
/// which is resumed.
package final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    package init() {}

    /// Returns once a signal came since the last wait (at once if one did), or the task is
    /// cancelled.
    package func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let (now, replaced) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return (true, nil)
                    }
                    defer { state.waiter = continuation }
                    return (false, state.waiter)
                }
                replaced?.resume()
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }

    /// Wakes the waiter, or the next one to wait.
    package func signal() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }?.resume()
    }
}
