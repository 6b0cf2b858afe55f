import DePINProtocol
import Foundation

/// `POST /v1/admin/ledger`.
struct LedgerRequest: Codable, KnownFields {
    var node: String
    var kind: String
    var amount: Int64
    var reason: String
    var evidence: String?
    static let knownFields: Set<String> = ["node", "kind", "amount", "reason", "evidence"]
}

/// A node as the API shows it.
struct NodeView: Codable {
    var id: String
    var deviceClass: String
    var url: String
    var latitude: Double
    var longitude: Double
    var lastHeartbeat: Int64
    var load: Double
    var healthy: Bool
    var stake: StakeView
    var routed: Bool
    var reason: String?
    /// Proof-of-retrievability reputation (0 to 1) and, when it is poor, what it means.
    var reputation: Double?
    var standing: String?
    /// Cores claimed, the most a capacity probe measured (reference cores), and a warning
    /// when the measurement does not back the claim.
    var cores: Int
    var coresMeasured: Double?
    var capacity: String?
    /// What viewers' players reported of this edge (``ViewerSessions``).
    var viewerReports: ViewerSessions.EdgeReports?
    /// Viewers it serves now (its last heartbeat's sessions and those routed to it since), and
    /// how many it may serve before route answers prefer edges with room.
    var viewers: Int?
    var viewerCapacity: Int?

    init(_ status: NodeStatus) {
        id = status.node.id
        deviceClass = status.node.deviceClass
        url = status.node.url
        latitude = status.node.latitude
        longitude = status.node.longitude
        lastHeartbeat = status.node.lastHeartbeat
        load = status.node.load
        healthy = status.node.healthy
        stake = StakeView(status.stake)
        routed = status.refusal == nil
        reason = status.refusal
        cores = status.node.cores
    }
}

/// Stake in base units.
struct StakeView: Codable {
    var deposited: Int64
    var available: Int64
    var bonded: Int64
    var unbonding: Int64
    var slashed: Int64

    init(_ balance: StakeBalance) {
        deposited = balance.deposited
        available = balance.available
        bonded = balance.bonded
        unbonding = balance.unbonding
        slashed = balance.slashed
    }
}

/// `GET /v1/keys/coordinator`: the public key edges verify tokens and receipts with (also as
/// a JWK's fields).

/// `POST /v1/admin/revenue`.
struct RevenueRequest: Codable, KnownFields {
    var source: String
    var amount: Int64
    var reason: String
    var epoch: Int64?
    static let knownFields: Set<String> = ["source", "amount", "reason", "epoch"]
}

/// One line of `GET /v1/epochs`.
struct EpochSummary: Codable {
    var epoch: Int64
    var startsAt: Int64
    var endsAt: Int64
    var pool: Int64
    var paid: Int64
    var carryOut: Int64
    var miners: Int
    var root: String
}
