import DePINProtocol
import Foundation
import Recurring
import Synchronization

/// What the coordinator has told this edge to do, as its task polls last said: per title, the
/// hosts to fill from (with the token that opens the title there), the hosting tasks still to
/// copy, and the finished ones still to report.
package final class Assignments: Sendable {
    package struct Sources: Sendable, Equatable {
        package var urls: [String]
        package var token: String?
    }

    private struct State {
        var sources: [String: Sources] = [:]
        /// When each title's sources last came from the coordinator.
        var learnedAt: [String: ContinuousClock.Instant] = [:]
        /// Hosting tasks whose title is not yet whole here (copied from ``sources``).
        var toCopy: [String] = []
        /// Titles whose hosting task is done here but not yet reported.
        var toReport: Set<String> = []
        /// Titles the coordinator knows this edge hosts.
        var reported: Set<String> = []
    }
    private let state = Mutex(State())
    /// Signalled when a title is ready to report, and when a title to copy may have sources.
    private let reportsReady = Wakeup(), copiesReady = Wakeup()
    /// Asks the coordinator for this edge's tasks at once (set by the agent).
    private let refresher = Mutex<(@Sendable () async -> Void)?>(nil)
    /// When each title last caused a refresh (seconds, monotonic).
    private let refreshedAt = Mutex<[String: ContinuousClock.Instant]>([:])
    /// The fewest seconds between two refreshes for one title.
    static let refreshInterval: Duration = .seconds(2)

    package init() {}

    /// Sets how ``sources(refreshingFor:)`` asks the coordinator for tasks.
    package func setRefresher(_ refresher: @escaping @Sendable () async -> Void) { self.refresher.withLock { $0 = refresher } }

    /// Where to fill `content` from; when no host is known yet (a viewer routed here before
    /// this edge's long poll brought the delivery task), asks the coordinator first, at most
    /// once per ``refreshInterval`` per title.
    package func sources(refreshingFor content: String) async -> Sources? {
        if let known = sources(for: content), !known.urls.isEmpty { return known }
        return await refreshed(content)
    }

    /// Where to fill `content` from, asked of the coordinator again when what is known came more
    /// than `age` ago (a streaming title's hosts and its delivery edges in tiers change while it
    /// streams) or nothing is known; at most once per ``refreshInterval`` per title.
    package func sources(refreshingFor content: String, olderThan age: Duration) async -> Sources? {
        let now = ContinuousClock.now
        let fresh = state.withLock { state in state.learnedAt[content].map { now - $0 < age } ?? false }
        if fresh, let known = sources(for: content), !known.urls.isEmpty { return known }
        return await refreshed(content)
    }

    /// Asks the coordinator for this edge's tasks, unless `content` did less than
    /// ``refreshInterval`` ago, and returns its sources then.
    private func refreshed(_ content: String) async -> Sources? {
        let now = ContinuousClock.now
        let due = refreshedAt.withLock { times in
            if let last = times[content], now - last < Self.refreshInterval { return false }
            if times.count > 10_000 { times = times.filter { now - $0.value < Self.refreshInterval } }
            times[content] = now
            return true
        }
        if due, let refresher = refresher.withLock({ $0 }) { await refresher() }
        return sources(for: content)
    }

    /// Takes in a poll's answer; `isComplete` says whether a title is whole in the hosted store.
    package func apply(_ answer: TaskPollAnswer, isComplete: (String) -> Bool) {
        state.withLock { state in
            for task in answer.tasks {
                if !task.sources.isEmpty || task.token != nil {
                    state.sources[task.content] = Sources(urls: task.sources, token: task.token)
                    state.learnedAt[task.content] = .now
                }
                guard task.kind == AssignedTask.Kinds.hosting else { continue }
                if task.done {
                    state.reported.insert(task.content)
                    state.toReport.remove(task.content)
                } else if isComplete(task.content) {
                    state.toReport.insert(task.content)
                } else if !state.toCopy.contains(task.content) {
                    state.toCopy.append(task.content)
                }
            }
        }
        if hasReports { reportsReady.signal() }
        copiesReady.signal()
    }

    /// Returns once a title is ready to report (or the task is cancelled).
    package func waitForReports() async {
        while !hasReports && !Task.isCancelled { await reportsReady.wait() }
    }

    /// Returns after the next poll's answer, which may name titles to copy or their sources (or
    /// when the task is cancelled).
    package func waitForCopies() async { await copiesReady.wait() }

    /// Where to fill `content` from, nearest host first; nil when no host is known.
    package func sources(for content: String) -> Sources? { state.withLock { $0.sources[content] } }

    /// The next hosting task to copy from other hosts, if any has sources.
    package func nextCopy() -> (content: String, sources: Sources)? {
        state.withLock { state in
            guard let index = state.toCopy.firstIndex(where: { !(state.sources[$0]?.urls.isEmpty ?? true) }) else { return nil }
            let content = state.toCopy.remove(at: index)
            return (content, state.sources[content]!)
        }
    }

    /// A hosting task's title is now whole here (uploaded or copied): report it.
    package func hosted(_ content: String) {
        state.withLock { state in
            state.toCopy.removeAll { $0 == content }
            if !state.reported.contains(content) { state.toReport.insert(content) }
        }
        if hasReports { reportsReady.signal() }
    }

    /// A copy failed: try it again on the next poll's answer.
    package func copyFailed(_ content: String) {
        state.withLock { state in
            if !state.toCopy.contains(content) { state.toCopy.append(content) }
        }
    }

    /// The titles to report now (taken; give them back with ``restore(_:)`` if the poll fails).
    package func takeReports() -> [String] {
        state.withLock { state in
            let reports = state.toReport.sorted()
            state.toReport = []
            return reports
        }
    }

    package func restore(_ reports: [String]) { state.withLock { $0.toReport.formUnion(reports) } }

    package var hasReports: Bool { state.withLock { !$0.toReport.isEmpty } }
}
