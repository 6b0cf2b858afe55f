import HLS
import Synchronization

/// What a blocking playlist reload (`_HLS_msn`, `_HLS_part`) came to.
package enum LiveReload: Equatable, Sendable {
    /// The playlist has what was asked for (or the stream ended): serve it.
    case ready
    /// The segment asked for is more than two past the newest: 400, as RFC 8216bis says.
    case tooFar
    /// Not there within three target durations: 503.
    case timedOut
}

/// How far one rung of a live title has come, as its newest playlist says; it only moves on.
struct LiveProgress: Sendable {
    /// The playlist's media sequence number.
    var sequence = 0
    /// The newest part listed (segment, part); (-1, -1) before any.
    var last: (sequence: Int, part: Int) = (-1, -1)
    /// The newest whole segment listed.
    var complete = -1
    var targetDuration = 2
    var ended = false

    /// Whether `playlist` is not behind this (a playlist with EXT-X-ENDLIST always is news).
    func accepts(_ playlist: LivePlaylist) -> Bool {
        let newest = playlist.lastPart ?? (playlist.mediaSequence - 1, Int.max)
        return playlist.mediaSequence >= sequence && (newest >= last || playlist.endList)
    }

    /// Whether `playlist` says more than this.
    func isOlder(than playlist: LivePlaylist) -> Bool {
        accepts(playlist) && ((playlist.lastPart ?? last) > last || playlist.mediaSequence > sequence || playlist.endList != ended)
    }

    mutating func advance(to playlist: LivePlaylist) {
        sequence = playlist.mediaSequence
        let newest = playlist.lastPart ?? (playlist.mediaSequence - 1, Int.max)
        if newest > last { last = newest }
        ended = playlist.endList
        complete = playlist.segments.last?.sequence ?? complete
        targetDuration = max(playlist.targetDuration, 1)
    }

    /// The answer to a blocking reload for part `part` of segment `sequence` (without a part:
    /// the whole segment), or nil while it must wait.
    func reload(sequence wanted: Int, part: Int?) -> LiveReload? {
        if ended { return .ready }
        if wanted > last.sequence + 2 { return .tooFar }
        let done = if let part { complete >= wanted || last >= (wanted, part) } else { complete >= wanted }
        return done ? .ready : nil
    }
}

/// Requests waiting for something to arrive (a file, a newer playlist), by name: each waits
/// until its name is announced or its time is up, whichever comes first.
///
/// A waiter is what resumes it (a continuation, or a callback for a request answered on its
/// connection's event loop) and a deadline, nothing more (thousands of viewers wait on one
/// playlist update); one sweeper, running while anyone waits, wakes those whose time is up,
/// every ``sweepInterval``.
///
/// Thread-safe; waiters are resumed outside the lock.
final class Arrivals: Sendable {
    static let sweepInterval: Duration = .milliseconds(50)

    private struct Waiter {
        let resume: @Sendable () -> Void
        let deadline: ContinuousClock.Instant
    }
    private struct State {
        var waiting: [String: [Waiter]] = [:]
        var sweeping = false
    }
    private let state = Mutex(State())

    /// Waits until `key` is announced or `limit` passes, unless `here` says it is here already
    /// (asked after the waiter is registered, so an announcement is never missed).
    func wait(for key: String, upTo limit: Duration, unless here: @escaping @Sendable () -> Bool = { false }) async {
        await withCheckedContinuation { continuation in
            register(key, upTo: limit, unless: here) { continuation.resume() }
        }
    }

    /// Calls `resume` once, when `key` is announced or `limit` passes, unless `here` says it is
    /// here already (then at once).
    private func register(_ key: String, upTo limit: Duration, unless here: @Sendable () -> Bool, resume: @escaping @Sendable () -> Void) {
        let deadline = ContinuousClock.now + limit
        let startSweeper = state.withLock { state -> Bool in
            state.waiting[key, default: []].append(Waiter(resume: resume, deadline: deadline))
            defer { state.sweeping = true }
            return !state.sweeping
        }
        if startSweeper { Task { await self.sweep() } }
        if here() { announce(key) }
    }

    /// `key` arrived: every request waiting for it goes on.
    func announce(_ key: String) {
        let waiters = state.withLock { $0.waiting.removeValue(forKey: key) ?? [] }
        for waiter in waiters { waiter.resume() }
    }

    /// Wakes the waiters whose time is up, until nobody waits.
    private func sweep() async {
        while true {
            try? await Task.sleep(for: Self.sweepInterval)
            let (late, done) = state.withLock { state -> ([Waiter], Bool) in
                let now = ContinuousClock.now
                var late: [Waiter] = []
                for (key, waiters) in state.waiting where waiters.contains(where: { $0.deadline <= now }) {
                    late += waiters.filter { $0.deadline <= now }
                    let kept = waiters.filter { $0.deadline > now }
                    state.waiting[key] = kept.isEmpty ? nil : kept
                }
                if state.waiting.isEmpty { state.sweeping = false }
                return (late, state.waiting.isEmpty)
            }
            for waiter in late { waiter.resume() }
            if done { return }
        }
    }

    /// Holds a blocking playlist reload until `answer` gives one (nil: not yet), looking again
    /// each time `key` is announced, for at most three target durations (as `answer` says them).
    func holdReload(on key: String, answer: @escaping @Sendable () -> (LiveReload?, targetDuration: Int)) async -> LiveReload {
        await withCheckedContinuation { continuation in
            holdReload(on: key, answer: answer) { continuation.resume(returning: $0) }
        }
    }

    /// The same, calling `done` with the outcome (at once when `answer` has one) instead of
    /// suspending a task: for requests answered on their connection's event loop.
    func holdReload(
        on key: String, asked: ContinuousClock.Instant = .now, answer: @escaping @Sendable () -> (LiveReload?, targetDuration: Int),
        then done: @escaping @Sendable (LiveReload) -> Void
    ) {
        let (reload, target) = answer()
        if let reload { return done(reload) }
        let left = asked + .seconds(3 * target) - ContinuousClock.now
        guard left > .zero else { return done(.timedOut) }
        register(key, upTo: left, unless: { answer().0 != nil }) {
            self.holdReload(on: key, asked: asked, answer: answer, then: done)
        }
    }
}
