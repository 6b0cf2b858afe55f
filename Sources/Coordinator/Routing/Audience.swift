/// How many viewers each edge serves now, as the coordinator estimates it: the distinct sessions
/// its last heartbeat reported (per title, over the interval before it) plus the viewers routed
/// to it since. Route answers put an edge whose estimate has reached its viewer capacity after
/// the edges with room (``Registry/route(content:from:limit:)``), so a title whose audience grows
/// past one edge spills onto the next edges in its rendezvous order; those are given delivery
/// tasks with the route and relay it (relay capacity added as viewers grow).
///
/// In memory only, one entry per edge that has heartbeated or been routed to (kept across the
/// registry's reloads from the store); an entry older than the heartbeat timeout counts as none.
/// Not thread-safe: the registry keeps it in its `Mutex`.
package struct Audience: Sendable {
    package struct Edge: Sendable, Equatable {
        /// Each title's sessions, as the last heartbeat reported them.
        package var reported: [String: Int] = [:]
        /// Viewers routed to the edge since that heartbeat, by title.
        package var routed: [String: Int] = [:]
        /// When the last heartbeat came (or, before any, the first viewer was routed here).
        package var at: Int64

        /// Viewers of `content` now (all titles when nil).
        package func estimate(of content: String? = nil) -> Int {
            guard let content else { return reported.values.reduce(0, +) + routed.values.reduce(0, +) }
            return (reported[content] ?? 0) + (routed[content] ?? 0)
        }
    }

    private var edges: [String: Edge] = [:]

    package init() {}

    /// The edge's entry if it was counted at or after `since` (a heartbeat, or routes since one);
    /// an older one describes an edge that stopped heartbeating (here).
    package func current(_ node: String, since: Int64) -> Edge? { edges[node].flatMap { $0.at >= since ? $0 : nil } }

    /// A heartbeat's count; what was routed before it is in it.
    package mutating func report(_ node: String, titles: [String: Int], at time: Int64) { edges[node] = Edge(reported: titles, at: time) }

    /// A viewer of `content` was sent to `node` first. An entry last counted before
    /// `forgettingBefore` starts again (no heartbeat of the edge reached this coordinator since:
    /// its routes must not add up for ever).
    package mutating func routed(_ node: String, content: String, at time: Int64, forgettingBefore: Int64) {
        if edges[node].map({ $0.at < forgettingBefore }) ?? true { edges[node] = Edge(at: time) }
        edges[node]!.routed[content, default: 0] += 1
    }

    /// Viewers of `content` at each edge counted since `since` that has some, by edge id.
    package func watching(_ content: String, since: Int64) -> [String: Int] {
        edges.filter { $0.value.at >= since }.compactMapValues { $0.estimate(of: content) }.filter { $0.value > 0 }
    }
}
