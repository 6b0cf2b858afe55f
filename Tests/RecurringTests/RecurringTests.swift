import Logging
import Recurring
import ServiceLifecycle
import Synchronization
import Testing

/// A clock that moves only when the test says: sleepers wake when ``advance(by:)`` passes their
/// deadline.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Self { Instant(offset: offset + duration) }
        func duration(to other: Self) -> Duration { other.offset - offset }
        static func < (a: Self, b: Self) -> Bool { a.offset < b.offset }
    }
    private struct Sleeper {
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }
    private let state = Mutex<(now: Instant, sleepers: [Int: Sleeper], next: Int)>((Instant(offset: .zero), [:], 0))

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .nanoseconds(1) }
    var sleepers: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let due = state.withLock { state -> Bool in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return false
                }
                if due { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    func advance(by duration: Duration) {
        let woken = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let due = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in due.keys { state.sleepers[id] = nil }
            return Array(due.values)
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// Returns once `count` tasks sleep on this clock.
    func waitForSleepers(_ count: Int) async {
        while sleepers < count { await Task.yield() }
    }
}

@Suite("Recurring work on a clock")
struct RecurringTests {
    @Test("a round runs once per interval on the clock; a failing round is retried after a backoff, and success returns to the interval")
    func rounds() async throws {
        let clock = ManualClock()
        let state = Mutex((rounds: 0, failNext: false))
        let service = RecurringService("test", every: .seconds(10), jitter: 0, clock: clock, logger: Logger(label: "test")) {
            let fail = state.withLock { state -> Bool in
                state.rounds += 1
                defer { state.failNext = false }
                return state.failNext
            }
            if fail { throw CancellationLikeFailure() }
        }
        let running = Task { try await service.run() }
        await clock.waitForSleepers(1)
        #expect(state.withLock { $0.rounds } == 0, "the first round comes after one interval")
        clock.advance(by: .seconds(9))
        await Task.yield()
        #expect(state.withLock { $0.rounds } == 0)
        clock.advance(by: .seconds(1))
        await clock.waitForSleepers(1)
        #expect(state.withLock { $0.rounds } == 1)

        // A failure: the next round comes after half an interval to one, not a full one later.
        state.withLock { $0.failNext = true }
        clock.advance(by: .seconds(10))
        await clock.waitForSleepers(1)
        #expect(state.withLock { $0.rounds } == 2)
        clock.advance(by: .seconds(10))
        await clock.waitForSleepers(1)
        #expect(state.withLock { $0.rounds } == 3, "retried within one interval")
        clock.advance(by: .seconds(10))
        await clock.waitForSleepers(1)
        #expect(state.withLock { $0.rounds } == 4)

        running.cancel()
        try await running.value
    }

    @Test("backoff waits grow from half the base to the base, double per failure up to the cap, and start over after a success")
    func backoff() {
        var backoff = Backoff(base: .seconds(1), cap: .seconds(8))
        var waits: [Duration] = []
        for _ in 0..<6 { waits.append(backoff.next()) }
        let bounds: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8)]
        for (wait, bound) in zip(waits, bounds) { #expect(wait >= bound / 2 && wait <= bound, "\(wait) within \(bound / 2)...\(bound)") }
        #expect(backoff.attempts == 6)
        backoff.reset()
        let first = backoff.next()
        #expect(first >= .milliseconds(500) && first <= .seconds(1))
    }

    @Test("a wakeup signalled before the wait is not lost; a waiting loop is woken; cancellation ends the wait")
    func wakeup() async {
        let wakeup = Wakeup()
        wakeup.signal()
        await wakeup.wait()
        let woken = Task { await wakeup.wait() }
        wakeup.signal()
        await woken.value
        let cancelled = Task { await wakeup.wait() }
        cancelled.cancel()
        await cancelled.value
    }
}

private struct CancellationLikeFailure: Error {}
