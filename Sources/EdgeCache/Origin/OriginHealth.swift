import Synchronization

/// Passive health of the configured origins: one that fails (refused, timed out, broken) is tried
/// last for `downFor` (``EdgeCache/Configuration/originDownFor``), and not at all when a healthy origin answered, so misses do not each wait
/// out a dead upstream's timeouts; a success or an answer (even "not found") restores it. Like nginx's `max_fails=1 fail_timeout=10s`.
///
/// Thread-safe (a `Mutex`); the clock is `ContinuousClock`.
final class OriginHealth: Sendable {
    let downFor: Duration
    private let downUntil = Mutex<[Int: ContinuousClock.Instant]>([:])

    init(downFor: Duration) { self.downFor = downFor }

    /// Origin indices in configured order: those up, and those marked down.
    func partition(count: Int) -> (up: [Int], down: [Int]) {
        let now = ContinuousClock.now
        let downSet = downUntil.withLock { marks in Set(marks.filter { $0.value > now }.map(\.key)) }
        if downSet.isEmpty { return (Array(0..<count), []) }
        return ((0..<count).filter { !downSet.contains($0) }, (0..<count).filter { downSet.contains($0) })
    }

    /// Marks `index` down; true if it was up until now (worth a log line).
    func failed(_ index: Int) -> Bool {
        let now = ContinuousClock.now
        return downUntil.withLock { marks in
            let wasUp = (marks[index] ?? now) <= now
            marks[index] = now + downFor
            return wasUp
        }
    }

    func succeeded(_ index: Int) {
        downUntil.withLock { _ = $0.removeValue(forKey: index) }
    }
}
