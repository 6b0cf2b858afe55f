import DePINProtocol
import Foundation
import Synchronization

/// What the edge knows of itself beyond its cache, for its `/status` page: when it started,
/// which coordinator it answers to and as which node, its last heartbeat and what the
/// coordinator answered, its claims' receipts, and the renditions it made.
///
/// Thread-safe: each part behind a `Mutex`, written by the agent's loops and the transcoder,
/// read by the page.
package final class EdgeStatus: Sendable {
    /// The last heartbeat (or registration) and the coordinator's view of the node then.
    struct Heartbeat: Sendable, Encodable {
        var at: Int64
        /// Nil when the heartbeat failed.
        var routed: Bool?
        var reason: String?
        var bondedStake: Int64?
        var slashedStake: Int64?
        var error: String?
    }

    /// Receipts and refusals for this edge's delivery claims since start.
    struct Claims: Sendable, Encodable {
        var receipts = 0
        var bytes: Int64 = 0
        var refused = 0
        var lastRefusal: String?
        var lastAt: Int64?
    }

    /// Rendition segments this edge made since start.
    struct Made: Sendable, Encodable {
        var segments = 0
        var bytes: Int64 = 0
        var lastAt: Int64?
    }

    let startedAt = Int64(Date().timeIntervalSince1970)
    /// The coordinator's base URL and this node's id, with a coordinator.
    let coordinator: String?
    let node: String?
    private let heartbeat = Mutex<Heartbeat?>(nil)
    private let claims = Mutex(Claims())
    private let made = Mutex(Made())
    private let listening = Mutex<[String]>([])

    init(coordinator: String?, node: String?) {
        self.coordinator = coordinator
        self.node = node
    }

    /// The coordinator's answer to a heartbeat or a registration (its `NodeView` JSON), or the
    /// error that stopped it.
    func noteHeartbeat(answer: Data?, error: String? = nil, at: Int64 = Int64(Date().timeIntervalSince1970)) {
        struct View: Decodable {
            struct Stake: Decodable {
                var bonded: Int64?
                var slashed: Int64?
            }
            var routed: Bool?
            var reason: String?
            var stake: Stake?
        }
        let view = answer.flatMap { try? JSONDecoder().decode(View.self, from: $0) }
        let beat = Heartbeat(
            at: at, routed: view?.routed, reason: view?.reason ?? (view == nil && error == nil ? "the answer did not decode" : nil),
            bondedStake: view?.stake?.bonded, slashedStake: view?.stake?.slashed, error: error)
        heartbeat.withLock { $0 = beat }
    }

    func noteClaims(receipts: Int, bytes: Int64, refused: [String], at: Int64 = Int64(Date().timeIntervalSince1970)) {
        claims.withLock {
            $0.receipts += receipts
            $0.bytes += bytes
            $0.refused += refused.count
            if let reason = refused.first { $0.lastRefusal = reason }
            $0.lastAt = at
        }
    }

    func noteMade(_ renditions: [MadeRendition], at: Int64 = Int64(Date().timeIntervalSince1970)) {
        made.withLock {
            $0.segments += renditions.count
            $0.bytes += renditions.reduce(0) { $0 + $1.bytes }
            $0.lastAt = at
        }
    }

    /// A listener is up, as `scheme://host:port`.
    func noteListener(_ url: String) { listening.withLock { $0.append(url) } }

    var listeners: [String] { listening.withLock { $0 } }
    var lastHeartbeat: Heartbeat? { heartbeat.withLock { $0 } }
    var claimed: Claims { claims.withLock { $0 } }
    var transcoded: Made { made.withLock { $0 } }
}
