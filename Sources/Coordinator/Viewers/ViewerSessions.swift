import DequeModule
import Foundation
import Synchronization

/// What the coordinator remembers of viewers' playback sessions, for failover: each session's
/// route answer (its edges, nearest first), the edges its player reported failing, and how many
/// distinct sessions reported each edge failing lately.
///
/// A session's own failed edges go last in its steering answers. An edge reported by
/// ``Policy/suspectSessions`` distinct sessions within ``Policy/window`` seconds is a suspect:
/// route answers put it after the others for everyone until the reports age out. Reports only
/// reorder, never exclude, so a flood of forged reports (anyone can open sessions) can demote an
/// edge for a minute but never take it out of the network; an edge that is really gone stops
/// heartbeating and stops being routed to by the registry's own rule.
///
/// In memory only, bounded: at most ``Policy/maxSessions`` sessions (the oldest forgotten
/// first) and ``Policy/maxReportsPerEdge`` recent reports an edge. A coordinator that restarts,
/// or a session it forgot, answers steering from a fresh route look-up instead.
///
/// ## Performance characteristics
/// One lock and a dictionary look-up per call; about 200 bytes a remembered session.
package final class ViewerSessions: Sendable {
    package struct Policy: Sendable {
        /// Sessions remembered at once.
        package var maxSessions = 100_000
        /// Seconds a failure report counts against an edge's health.
        package var window: Int64 = 60
        /// Distinct sessions reporting an edge within the window that make it a suspect.
        package var suspectSessions = 3
        /// Reports kept per edge (the window's, at most).
        package var maxReportsPerEdge = 1000

        package init() {}
    }

    /// One session's route and what its player said.
    struct Session {
        var content: String
        var edges: [String]
        var failed: [String] = []
    }

    /// What one edge's viewers reported.
    package struct EdgeReports: Sendable, Equatable, Codable {
        /// Distinct sessions that reported it within the window.
        package var recent: Int
        /// Every report since this coordinator started.
        package var total: Int
        /// The newest report's reason.
        package var lastReason: String?
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var order: Deque<String> = []
        var reports: [String: Deque<(at: Int64, session: String)>] = [:]
        var totals: [String: (count: Int, reason: String)] = [:]
    }

    package let policy: Policy
    private let state = Mutex(State())

    package init(policy: Policy = Policy()) { self.policy = policy }

    /// Remembers the edges a route answer gave `session`.
    package func remember(session: String, content: String, edges: [String]) {
        state.withLock { state in
            if state.sessions.updateValue(Session(content: content, edges: edges), forKey: session) == nil {
                state.order.append(session)
            }
            while state.order.count > policy.maxSessions, let oldest = state.order.popFirst() {
                state.sessions[oldest] = nil
            }
        }
    }

    /// The edges a session was routed to, in the answer's order, and the ones it reported
    /// failing; nil when this coordinator does not remember the session.
    package func session(_ id: String) -> (edges: [String], failed: [String])? {
        state.withLock { state in state.sessions[id].map { ($0.edges, $0.failed) } }
    }

    /// Records that `session`'s player gave up on `edge`.
    /// - Returns: false when the session had reported that edge before (nothing counted again).
    @discardableResult
    package func reportFailure(session: String, content: String, edge: String, reason: String, now: Int64) -> Bool {
        state.withLock { state in
            var remembered = state.sessions[session] ?? Session(content: content, edges: [])
            guard !remembered.failed.contains(edge) else { return false }
            if remembered.failed.count >= 16 { remembered.failed.removeFirst() }
            remembered.failed.append(edge)
            if state.sessions.updateValue(remembered, forKey: session) == nil { state.order.append(session) }
            while state.order.count > policy.maxSessions, let oldest = state.order.popFirst() { state.sessions[oldest] = nil }
            var recent = state.reports[edge] ?? []
            Self.expire(&recent, before: now - policy.window)
            if recent.count >= policy.maxReportsPerEdge { recent.removeFirst() }
            recent.append((now, session))
            state.reports[edge] = recent
            state.totals[edge] = ((state.totals[edge]?.count ?? 0) + 1, reason)
            return true
        }
    }

    /// What `edge`'s viewers reported.
    package func reports(for edge: String, now: Int64) -> EdgeReports {
        state.withLock { state in
            guard var recent = state.reports[edge] else { return EdgeReports(recent: 0, total: 0) }
            Self.expire(&recent, before: now - policy.window)
            state.reports[edge] = recent.isEmpty ? nil : recent
            let total = state.totals[edge]
            return EdgeReports(recent: Set(recent.map(\.session)).count, total: total?.count ?? 0, lastReason: total?.reason)
        }
    }

    /// False when no edge has a report within the window (route answers need no reordering).
    package func anyRecentReports(now: Int64) -> Bool {
        state.withLock { state in
            state.reports = state.reports.filter { $0.value.last.map { $0.at >= now - policy.window } ?? false }
            return !state.reports.isEmpty
        }
    }

    /// The edges among `ids` that enough sessions reported failing lately.
    package func suspects(among ids: [String], now: Int64) -> Set<String> {
        Set(ids.filter { reports(for: $0, now: now).recent >= policy.suspectSessions })
    }

    /// `ids` with suspects after the others, each part in its order.
    package func demotingSuspects(_ ids: [String], now: Int64) -> [String] {
        let suspects = suspects(among: ids, now: now)
        if suspects.isEmpty { return ids }
        return ids.filter { !suspects.contains($0) } + ids.filter { suspects.contains($0) }
    }

    private static func expire(_ reports: inout Deque<(at: Int64, session: String)>, before cutoff: Int64) {
        while let first = reports.first, first.at < cutoff { reports.removeFirst() }
    }
}
