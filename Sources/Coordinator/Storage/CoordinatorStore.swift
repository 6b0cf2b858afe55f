import DePINProtocol
import Foundation

/// Where the coordinator keeps what must survive a restart: nodes, the staking ledger, used
/// nonces, published content. One protocol, two backends: ``SQLiteStore`` (a file, the
/// default) and ``PostgresStore`` (for several coordinators on one database). Both pass the
/// same conformance suite.
///
/// Every method is one transaction: it happens whole or not at all.
package protocol CoordinatorStore: Sendable {
    /// Creates or upgrades the schema (safe to run from several coordinators at once).
    func migrate() async throws
    /// The schema version now in place.
    func schemaVersion() async throws -> Int

    /// Inserts the node, or replaces the one with its id.
    func saveNode(_ node: NodeRecord) async throws
    func node(id: String) async throws -> NodeRecord?
    func nodes() async throws -> [NodeRecord]
    /// Records a heartbeat; false if the node is not registered.
    func recordHeartbeat(_ beat: Heartbeat) async throws -> Bool

    /// Marks `nonce` used by `node`; false if it was used before (a replay).
    func useNonce(node: String, nonce: String, at: Int64) async throws -> Bool
    /// Forgets nonces used before `time` (older requests fail the timestamp check anyway).
    func pruneNonces(before time: Int64) async throws

    /// Appends an event and returns it with its sequence number (increasing, never reused).
    func append(_ event: LedgerEvent) async throws -> LedgerEvent
    /// Every event, or one node's, in order.
    func ledger(node: String?) async throws -> [LedgerEvent]

    /// Stores a published title; refuses an id that exists (titles are immutable).
    func saveContent(_ content: ContentRecord) async throws
    func content(id: String) async throws -> ContentRecord?
    /// Every registered title's id, in order.
    func contentIDs() async throws -> [String]

    /// Assigns a task; nil (and nothing written) when the node already has that kind of task
    /// for that title. The stored task carries its sequence number, the node's poll cursor.
    func addTask(_ task: TaskRecord) async throws -> TaskRecord?
    /// A node's tasks with a sequence number above `after`, in order.
    func tasks(node: String, after: Int64) async throws -> [TaskRecord]
    /// Every task for one title.
    func tasks(content: String) async throws -> [TaskRecord]
    /// Marks a node's task done at `at` (the first report counts); false if it has no such task.
    func completeTask(node: String, content: String, kind: TaskRecord.Kind, at: Int64) async throws -> Bool

    /// Whether other coordinators may write to this store at the same time (PostgreSQL):
    /// then the claim path reads every session it checks; a store only this coordinator
    /// writes (SQLite) lets it keep what it wrote in memory.
    var isShared: Bool { get }
    /// The greatest session id with an accepted claim (ids begin with their issue time).
    func newestClaimedSession() async throws -> String?
    /// Every accepted claim of these sessions, briefly (any order).
    func sessionClaims(sessions: [String]) async throws -> [SessionClaim]
    /// What these sessions have been delivered so far, summed by the database (those with any
    /// claim; any order).
    func sessionTotals(ids: [String]) async throws -> [SessionTotal]
    /// Which of these claims are stored (any order).
    func storedClaims(keys: [SessionClaim.Key]) async throws -> [SessionClaim.Key]
    /// Accepted claims by session and id (any order; unknown ones are left out).
    func claims(keys: [SessionClaim.Key]) async throws -> [ClaimRecord]
    /// A node's accepted claims, oldest first.
    func claims(node: String) async throws -> [ClaimRecord]
    /// Stores accepted claims and the receipt batches they were signed in, in one transaction
    /// (``ClaimsToSave`` lays them out beforehand, on any task).
    /// - Throws: ``StoreFailure/duplicate(_:)`` (and writes nothing) when a session already
    ///   has a claim with the id.
    func saveClaims(_ save: ClaimsToSave) async throws
    /// Receipt batches by id (any order; unknown ids are left out).
    func receiptBatches(ids: [String]) async throws -> [ReceiptBatch]

    /// Records an issued challenge.
    func addChallenge(_ challenge: ChallengeRecord) async throws
    func challenge(id: String) async throws -> ChallengeRecord?
    /// A node's challenges still unanswered, oldest first.
    func openChallenges(node: String) async throws -> [ChallengeRecord]
    /// Settles an open challenge; false when it was settled already (nothing changes then).
    func settleChallenge(id: String, outcome: ChallengeRecord.Outcome, at: Int64) async throws -> Bool
    /// Marks every open challenge whose deadline is before `time` as `offline` and returns them.
    func expireChallenges(deadlineBefore time: Int64) async throws -> [ChallengeRecord]
    /// A node's settled challenges issued at or after `since`, oldest first.
    func settledChallenges(node: String, since: Int64) async throws -> [ChallengeRecord]

    /// Records an issued capacity probe.
    func addProbe(_ probe: ProbeRecord) async throws
    func probe(id: String) async throws -> ProbeRecord?
    /// A node's probes still unanswered, oldest first.
    func openProbes(node: String) async throws -> [ProbeRecord]
    /// Notes when a probe was first handed to its node (milliseconds); later calls change nothing.
    func deliverProbe(id: String, atMillis: Int64) async throws
    /// Settles an open probe; false when it was settled already (nothing changes then).
    func settleProbe(id: String, outcome: ProbeRecord.Outcome, answeredMillis: Int64, measuredCores: Double) async throws -> Bool
    /// Marks every open probe whose deadline is before `time` as `offline` and returns them.
    func expireProbes(deadlineBefore time: Int64) async throws -> [ProbeRecord]
    /// A node's settled probes issued at or after `since`, oldest first.
    func settledProbes(node: String, since: Int64) async throws -> [ProbeRecord]

    /// Records transcodes an edge reports; one already reported (same node, title, rendition
    /// and segment) is left as it was.
    /// - Returns: how many were new.
    func addTranscodes(_ reports: [TranscodeReport]) async throws -> Int
    /// Reports with this status, oldest first.
    func transcodes(status: TranscodeReport.Status, limit: Int) async throws -> [TranscodeReport]
    /// Decides a report that is still `sampled`; false when it was decided already.
    func decideTranscode(_ report: TranscodeReport, status: TranscodeReport.Status, at: Int64) async throws -> Bool
    /// Reports decided (passed an audit, or not sampled) with `from <= decidedAt < to`.
    func earningTranscodes(decidedFrom from: Int64, to: Int64) async throws -> [TranscodeReport]
    /// Voids what a node's transcodes decided at or after `since` would earn (it lied in an audit).
    /// - Returns: how many were voided.
    func forfeitTranscodes(node: String, since: Int64) async throws -> Int

    /// Records revenue for an epoch; refused (``StoreFailure/duplicate(_:)``) when the epoch is settled.
    func addRevenue(_ entry: RevenueEntry) async throws -> RevenueEntry
    func revenue(epoch: Int64) async throws -> [RevenueEntry]
    /// The earliest epoch with revenue, or nil.
    func firstRevenueEpoch() async throws -> Int64?
    /// Accepted claims with `from <= acceptedAt < to`.
    func claims(acceptedFrom from: Int64, to: Int64) async throws -> [ClaimRecord]
    /// Stores a settled epoch; refused (``StoreFailure/duplicate(_:)``) when it is settled already.
    func saveEpoch(_ epoch: EpochRecord) async throws
    func epoch(_ number: Int64) async throws -> EpochRecord?
    /// Settled epochs, newest first, at most `limit`.
    func epochs(limit: Int) async throws -> [EpochRecord]

    /// Releases connections (PostgreSQL) or the file (SQLite).
    func close() async throws
}

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

/// A published title: its manifest (JSON) and its content key sealed under the coordinator's key.
package struct ContentRecord: Sendable, Equatable {
    package var id: String
    package var manifest: String
    package var sealedKey: String
    package var createdAt: Int64

    package init(id: String, manifest: String, sealedKey: String, createdAt: Int64) {
        self.id = id
        self.manifest = manifest
        self.sealedKey = sealedKey
        self.createdAt = createdAt
    }
}

/// Work the coordinator gave one node for one title: hosting (keep the title's source), transcoding
/// (make its renditions, with a key lease), delivery (serve it to viewers, filling from its hosts).
package struct TaskRecord: Sendable, Equatable, Codable {
    package enum Kind: String, Sendable, Codable, CaseIterable {
        case hosting
        case transcoding
        case delivery
    }
    /// Assigned by the store: increasing per store, never reused.
    package var sequence: Int64?
    package var node: String
    package var content: String
    package var kind: Kind
    package var createdAt: Int64
    /// When the node reported the task done (hosting: every file held and checked).
    package var doneAt: Int64?

    package init(sequence: Int64? = nil, node: String, content: String, kind: Kind, createdAt: Int64, doneAt: Int64? = nil) {
        self.sequence = sequence
        self.node = node
        self.content = content
        self.kind = kind
        self.createdAt = createdAt
        self.doneAt = doneAt
    }
}

/// An accepted delivery claim and the receipt it got.
package struct ClaimRecord: Sendable, Equatable {
    package var id: String
    package var node: String
    package var content: String
    package var session: String
    package var bytes: Int64
    package var acceptedAt: Int64
    /// The receipt as JSON, for claims stored before receipts were kept by batch; empty since.
    package var receipt: String
    /// The rest of the claim (nil in rows from before receipts were kept by batch).
    package var segments: Int?
    package var ttfbMilliseconds: Int?
    package var firstAt: Int64?
    package var lastAt: Int64?
    /// The receipt batch it was signed in, and its leaf there.
    package var batch: String?
    package var leaf: Int?

    package init(
        id: String, node: String, content: String, session: String, bytes: Int64, acceptedAt: Int64, receipt: String = "", segments: Int? = nil,
        ttfbMilliseconds: Int? = nil, firstAt: Int64? = nil, lastAt: Int64? = nil, batch: String? = nil, leaf: Int? = nil
    ) {
        self.id = id
        self.node = node
        self.content = content
        self.session = session
        self.bytes = bytes
        self.acceptedAt = acceptedAt
        self.receipt = receipt
        self.segments = segments
        self.ttfbMilliseconds = ttfbMilliseconds
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.batch = batch
        self.leaf = leaf
    }

    /// The claim's delivery window (from the row, or from the receipt JSON of an older row).
    package var window: (firstAt: Int64, lastAt: Int64)? {
        if let firstAt, let lastAt { return (firstAt, lastAt) }
        guard let receipt = try? JSONDecoder().decode(DeliveryReceipt.self, from: Data(self.receipt.utf8)) else { return nil }
        return (receipt.firstAt, receipt.lastAt)
    }

    /// The receipt the coordinator answered for this claim: rebuilt from its batch, or decoded
    /// from an older row's JSON.
    package func receipt(in batch: ReceiptBatch?) -> DeliveryReceipt? {
        if !receipt.isEmpty { return try? JSONDecoder().decode(DeliveryReceipt.self, from: Data(receipt.utf8)) }
        guard let batch, batch.id == self.batch, let leaf, let segments, let ttfbMilliseconds, let firstAt, let lastAt,
            let tree = batch.tree, let proof = tree.proof(chunk: leaf)
        else { return nil }
        return DeliveryReceipt(
            claim: id, node: node, content: content, session: session, bytes: bytes, segments: segments, ttfbMilliseconds: ttfbMilliseconds,
            firstAt: firstAt, lastAt: lastAt, acceptedAt: acceptedAt, root: batch.root, proof: proof, signature: batch.signature)
    }
}

/// One signed batch of receipts: the Merkle root over its leaves (one per receipt), the
/// coordinator's signature of it, and the leaf hashes, from which each receipt's path is rebuilt.
package struct ReceiptBatch: Sendable, Equatable {
    package var id: String
    package var acceptedAt: Int64
    /// Hex.
    package var root: String
    /// base64.
    package var signature: String
    /// The leaf hashes, 32 bytes each, concatenated and base64-encoded.
    package var leaves: String

    package init(id: String, acceptedAt: Int64, root: String, signature: String, leaves: String) {
        self.id = id
        self.acceptedAt = acceptedAt
        self.root = root
        self.signature = signature
        self.leaves = leaves
    }

    package init(id: String, acceptedAt: Int64, signed: DeliveryReceipt.SignedBatch) {
        self.init(
            id: id, acceptedAt: acceptedAt, root: JSONText.hex(signed.tree.root), signature: signed.signature,
            leaves: Data(signed.leaves).base64EncodedString())
    }

    /// The batch's tree, or nil when the stored leaves are damaged.
    var tree: MerkleTree? {
        guard let data = Data(base64Encoded: leaves), data.count % 32 == 0, !data.isEmpty else { return nil }
        let tree = MerkleTree(concatenatedLeaves: [UInt8](data))
        return JSONText.hex(tree.root) == root ? tree : nil
    }
}

/// What the network has delivered to one playback session, by accepted claims.
package struct SessionTotal: Sendable, Equatable {
    package var id: String
    package var bytes: Int64
    /// Edges that delivered to it, sorted.
    package var edges: [String]

    package init(id: String, bytes: Int64, edges: [String]) {
        self.id = id
        self.bytes = bytes
        self.edges = edges
    }
}

/// One accepted claim as its session's totals and replays need it.
package struct SessionClaim: Sendable, Hashable {
    /// A claim is known by its session and its id: the same id in two sessions is two claims.
    package struct Key: Sendable, Hashable {
        package var session: String
        package var id: String

        package init(session: String, id: String) {
            self.session = session
            self.id = id
        }
    }
    package var key: Key
    package var node: String
    package var bytes: Int64

    package init(session: String, id: String, node: String, bytes: Int64) {
        key = Key(session: session, id: id)
        self.node = node
        self.bytes = bytes
    }
}

/// A proof-of-retrievability challenge as the coordinator keeps it.
package struct ChallengeRecord: Sendable, Equatable {
    package enum Outcome: String, Sendable, CaseIterable {
        /// The chunk and its path matched the manifest's root in time.
        case pass
        /// An answer that does not match.
        case fail
        /// A matching answer after the deadline.
        case late
        /// No answer by the deadline.
        case offline
    }
    package var id: String
    package var node: String
    package var content: String
    package var segment: Int
    package var chunk: Int
    package var issuedAt: Int64
    package var deadline: Int64
    package var outcome: Outcome?
    package var answeredAt: Int64?

    package init(
        id: String, node: String, content: String, segment: Int, chunk: Int, issuedAt: Int64, deadline: Int64, outcome: Outcome? = nil,
        answeredAt: Int64? = nil
    ) {
        self.id = id
        self.node = node
        self.content = content
        self.segment = segment
        self.chunk = chunk
        self.issuedAt = issuedAt
        self.deadline = deadline
        self.outcome = outcome
        self.answeredAt = answeredAt
    }
}

/// Revenue that feeds an epoch's pool, in base units, before the configured share is taken.
package struct RevenueEntry: Sendable, Equatable {
    package enum Source: String, Sendable, CaseIterable {
        case subscriptions, ads, purchases
        /// Token transaction fees.
        case tokenFees = "token_fees"
    }
    package var sequence: Int64?
    package var epoch: Int64
    package var source: Source
    package var amount: Int64
    package var reason: String
    package var at: Int64

    package init(sequence: Int64? = nil, epoch: Int64, source: Source, amount: Int64, reason: String, at: Int64) {
        self.sequence = sequence
        self.epoch = epoch
        self.source = source
        self.amount = amount
        self.reason = reason
        self.at = at
    }
}

/// A settled epoch: its pool, what rounding carried on, and the published report (JSON).
package struct EpochRecord: Sendable, Equatable {
    package var epoch: Int64
    package var pool: Int64
    package var carry: Int64
    package var settledAt: Int64
    package var report: String

    package init(epoch: Int64, pool: Int64, carry: Int64, settledAt: Int64, report: String) {
        self.epoch = epoch
        self.pool = pool
        self.carry = carry
        self.settledAt = settledAt
        self.report = report
    }
}

/// Why the store refused or failed.
package struct StoreFailure: Error, CustomStringConvertible {
    package enum Code: Sendable {
        case duplicate
        case unavailable
        case corrupt
    }
    package let code: Code
    package let message: String
    package var description: String { message }

    package static func duplicate(_ what: String) -> Self { .init(code: .duplicate, message: what) }
    package static func unavailable(_ what: String) -> Self { .init(code: .unavailable, message: what) }
    package static func corrupt(_ what: String) -> Self { .init(code: .corrupt, message: what) }
}

extension CoordinatorStore {
    /// ``saveClaims(_:)-(ClaimsToSave)`` of `claims` and `batches`.
    package func saveClaims(_ claims: [ClaimRecord], batches: [ReceiptBatch]) async throws {
        try await saveClaims(ClaimsToSave(claims, batches: batches))
    }
}
