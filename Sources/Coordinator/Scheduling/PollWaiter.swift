import Synchronization

/// One long poll waiting for news: resumed once, by whichever comes first of a change for its
/// node, its time limit, cancellation or a graceful shutdown. Resuming again does nothing.
final class PollWaiter: Sendable {
    private let state = Mutex<(resumed: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Returns once ``resume()`` has been called (at once if it was already).
    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.resumed { return true }
                state.continuation = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func resume() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.resumed = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}
