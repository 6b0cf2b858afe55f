import DePINProtocol
import Foundation

/// A registered edge node.
package struct NodeRecord: Sendable, Equatable, Codable {
    package var id: String
    /// Raw Ed25519 public key, base64.
    package var publicKey: String
    package var deviceClass: String
    package var cores: Int
    package var ramGB: Double
    package var mbps: Double
    package var gpu: Bool
    package var diskGB: Double
    package var ssd: Bool
    package var latitude: Double
    package var longitude: Double
    package var url: String
    package var registeredAt: Int64
    package var lastHeartbeat: Int64
    /// 0 (idle) to 1 (at its limit).
    package var load: Double
    package var freeCache: Int64
    package var healthy: Bool
    /// The edge makes renditions on demand (it said so at registration; its class must allow it).
    package var transcodes: Bool

    package init(
        id: String, publicKey: String, deviceClass: String, cores: Int, ramGB: Double, mbps: Double, gpu: Bool, diskGB: Double,
        ssd: Bool, latitude: Double, longitude: Double, url: String, registeredAt: Int64, lastHeartbeat: Int64, load: Double = 0,
        freeCache: Int64 = 0, healthy: Bool = true, transcodes: Bool = true
    ) {
        self.id = id
        self.publicKey = publicKey
        self.deviceClass = deviceClass
        self.cores = cores
        self.ramGB = ramGB
        self.mbps = mbps
        self.gpu = gpu
        self.diskGB = diskGB
        self.ssd = ssd
        self.latitude = latitude
        self.longitude = longitude
        self.url = url
        self.registeredAt = registeredAt
        self.lastHeartbeat = lastHeartbeat
        self.load = load
        self.freeCache = freeCache
        self.healthy = healthy
        self.transcodes = transcodes
    }
}

/// What a node reports between registrations.
package struct Heartbeat: Sendable, Equatable {
    package var node: String
    package var at: Int64
    package var load: Double
    package var freeCache: Int64
    package var healthy: Bool

    package init(node: String, at: Int64, load: Double, freeCache: Int64, healthy: Bool) {
        self.node = node
        self.at = at
        self.load = load
        self.freeCache = freeCache
        self.healthy = healthy
    }
}

/// One entry of the append-only staking ledger. Balances are derived from these, never stored.
package struct LedgerEvent: Sendable, Equatable, Codable {
    package enum Kind: String, Sendable, Codable, CaseIterable {
        /// Tokens arrive (recorded by an admin until the chain bridge exists).
        case deposit
        /// Available tokens become stake.
        case bond
        /// Stake starts its unbonding delay.
        case unbond
        /// Unbonded stake whose delay has passed becomes available again.
        case release
        /// Stake taken for a proven fault (the evidence says which).
        case slash
    }
    /// Assigned by the store.
    package var sequence: Int64?
    package var node: String
    package var kind: Kind
    /// Base units (1 DHB = 10^8), > 0.
    package var amount: Int64
    package var reason: String
    package var evidence: String?
    package var at: Int64

    package init(sequence: Int64? = nil, node: String, kind: Kind, amount: Int64, reason: String, evidence: String? = nil, at: Int64) {
        self.sequence = sequence
        self.node = node
        self.kind = kind
        self.amount = amount
        self.reason = reason
        self.evidence = evidence
        self.at = at
    }
}
