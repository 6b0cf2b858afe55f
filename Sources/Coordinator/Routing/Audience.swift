/// How many viewers each edge serves now, as the coordinator estimates it: the distinct sessions
/// its last heartbeat reported (per title, over the interval before it) plus the viewers routed
/// to it since. Route answers put an edge whose estimate has reached its viewer capacity after
/// the edges with room (``Registry/route(content:from:limit:)``), so a title whose audience grows
/// past one edge spills onto the next edges in its rendezvous order; those are given delivery
/// tasks with the route and relay it (relay capacity added as viewers grow).
///
/// In memory only, one entry per edge that has heartbeated. Not thread-safe: the registry keeps
/// it in its `Mutex`.
package struct Audience: Sendable {
    package struct Edge: Sendable, Equatable {
        /// Each title's sessions, as the last heartbeat reported them.
        package var reported: [String: Int] = [:]
        /// Viewers routed to the edge since that heartbeat, by title.
        package var routed: [String: Int] = [:]

        /// Viewers of `content` now (all titles when nil).
        package func estimate(of content: String? = nil) -> Int {
            guard let content else { return reported.values.reduce(0, +) + routed.values.reduce(0, +) }
            return (reported[content] ?? 0) + (routed[content] ?? 0)
        }
    }

    private(set) var edges: [String: Edge] = [:]

    package init() {}

    package subscript(node: String) -> Edge? { edges[node] }

    /// A heartbeat's count; what was routed before it is in it.
    package mutating func report(_ node: String, titles: [String: Int]) { edges[node] = Edge(reported: titles) }

    /// A viewer of `content` was sent to `node` first.
    package mutating func routed(_ node: String, content: String) { edges[node, default: Edge()].routed[content, default: 0] += 1 }

    /// Viewers of `content` at each edge that has some, by edge id.
    package func watching(_ content: String) -> [String: Int] {
        edges.compactMapValues { $0.estimate(of: content) }.filter { $0.value > 0 }
    }

    package mutating func forget(_ node: String) { edges[node] = nil }
}
