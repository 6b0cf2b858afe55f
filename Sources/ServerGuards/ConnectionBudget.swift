import Synchronization

/// How many connections a process holds at once, so that running out of descriptors sheds new
/// connections cleanly (accepted and closed at once) instead of failing `accept`, file opens and
/// origin connections at random. Shared by every listener of a process.
///
/// ## Performance characteristics
/// One atomic add per connection opened and one per connection closed.
package final class ConnectionBudget: Sendable {
    /// Connections admitted at once.
    package let limit: Int
    private let open = Atomic<Int>(0)

    package init(limit: Int) {
        precondition(limit > 0, "ConnectionBudget: the limit must be positive")
        self.limit = limit
    }

    /// A budget for a process allowed `descriptors` open files: half of them, less a reserve of
    /// 128, go to connections; the rest stay for the files, origin connections and databases
    /// their requests open.
    package convenience init(descriptors: Int) {
        self.init(limit: max(16, (descriptors - 128) / 2))
    }

    /// Connections open now.
    package var current: Int { open.load(ordering: .relaxed) }

    /// Takes a place for a new connection; false when the budget is spent (the caller closes it).
    package func admit() -> Bool {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= limit else {
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// True at most once every 10 s: whether to log a refused connection (an attack refused at
    /// thousands a second must not become as many log lines).
    package func shouldReportRefusal(now: ContinuousClock.Instant = .now) -> Bool {
        let second = Int((now - created).components.seconds) + 1  // 1 and up; 0 is "never"
        let last = lastReport.load(ordering: .relaxed)
        guard last == 0 || second - last >= 10 else { return false }
        return lastReport.compareExchange(expected: last, desired: second, ordering: .relaxed).exchanged
    }

    private let lastReport = Atomic<Int>(0)
    private let created = ContinuousClock.now

    /// Gives back the place of a connection that closed.
    package func release() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }
}
