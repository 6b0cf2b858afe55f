import DePINProtocol
import Foundation

/// Where the coordinator keeps what must survive a restart, as one protocol per aggregate, so a
/// component holds only the part it works on. Two backends implement them all:
/// ``SQLiteStore`` (a file, the default) and ``PostgresStore`` (for several coordinators on one
/// database); both pass the same conformance suite.
///
/// Every method is one transaction: it happens whole or not at all.
package protocol CoordinatorStore: NodeStore, LedgerStore, CatalogStore, LiveStore, TaskStore, ClaimStore, ChallengeStore, ProbeStore,
    TranscodeStore, EpochStore
{
    /// Creates or upgrades the schema (safe to run from several coordinators at once).
    func migrate() async throws
    /// The schema version now in place.
    func schemaVersion() async throws -> Int
    /// Releases connections (PostgreSQL) or the file (SQLite).
    func close() async throws
}

/// Registered nodes, their heartbeats, and the nonces their signed requests used.
package protocol NodeStore: Sendable {
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
}

/// The append-only staking ledger.
package protocol LedgerStore: Sendable {
    /// Appends an event and returns it with its sequence number (increasing, never reused).
    func append(_ event: LedgerEvent) async throws -> LedgerEvent
    /// Every event, or one node's, in order.
    func ledger(node: String?) async throws -> [LedgerEvent]
}

/// Published titles.
package protocol CatalogStore: Sendable {
    /// Stores a published title; refuses an id that exists (titles are immutable).
    func saveContent(_ content: ContentRecord) async throws
    func content(id: String) async throws -> ContentRecord?
    /// Every registered title's id, in order.
    func contentIDs() async throws -> [String]
}

/// Live titles while they stream.
package protocol LiveStore: Sendable {
    /// Stores a new live title; refuses an id that is a live or a published title.
    func saveLive(_ live: LiveRecord) async throws
    func live(id: String) async throws -> LiveRecord?
    /// Live titles (streaming or ended), newest first, at most `limit`: their ids and whether
    /// they still stream.
    func liveTitles(limit: Int) async throws -> [(id: String, live: Bool)]
    /// Replaces the stream key's hash (the old key stops working); false unless the title is live.
    func rotateStreamKey(id: String, hash: String) async throws -> Bool
    /// Marks the title ended at `at`; false unless it was live.
    func endLive(id: String, at: Int64) async throws -> Bool
}

/// The hosting, transcoding and delivery tasks given to nodes.
package protocol TaskStore: Sendable {
    /// Assigns a task; nil (and nothing written) when the node already has that kind of task
    /// for that title. The stored task carries its sequence number, the node's poll cursor.
    func addTask(_ task: TaskRecord) async throws -> TaskRecord?
    /// A node's tasks with a sequence number above `after`, in order.
    func tasks(node: String, after: Int64) async throws -> [TaskRecord]
    /// Every task for one title.
    func tasks(content: String) async throws -> [TaskRecord]
    /// Marks a node's task done at `at` (the first report counts); false if it has no such task.
    func completeTask(node: String, content: String, kind: TaskRecord.Kind, at: Int64) async throws -> Bool
}

/// Accepted delivery claims, the receipt batches they were signed in, and sessions' totals.
package protocol ClaimStore: Sendable {
    /// A new source of sessions' totals for one claim book, as this store may be shared: one
    /// only this coordinator writes (SQLite) lets the claim path keep what it wrote and read in
    /// memory (``CachedSessionTotals``); one other coordinators write at the same time
    /// (PostgreSQL) is read for every session a round checks (``SharedSessionTotals``).
    func sessionTotalsSource() -> any SessionTotalsSource
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
}

/// Proof-of-retrievability challenges.
package protocol ChallengeStore: Sendable {
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
}

/// Capacity probes.
package protocol ProbeStore: Sendable {
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
}

/// Transcodes edges reported, and their audits.
package protocol TranscodeStore: Sendable {
    /// Records transcodes an edge reports; one already reported (same node, title, rendition
    /// and segment) is left as it was.
    /// - Returns: how many were new.
    func addTranscodes(_ reports: [TranscodeReport]) async throws -> Int
    /// Reports with this status, oldest first.
    func transcodes(status: TranscodeReport.Status, limit: Int) async throws -> [TranscodeReport]
    /// One node's reports, newest first (then by title, rendition and segment), at most `limit`.
    func transcodes(node: String, limit: Int) async throws -> [TranscodeReport]
    /// One title's reports, newest first (then by node, rendition and segment), at most `limit`.
    func transcodes(content: String, limit: Int) async throws -> [TranscodeReport]
    /// Decides a report that is still `sampled`; false when it was decided already.
    func decideTranscode(_ report: TranscodeReport, status: TranscodeReport.Status, at: Int64) async throws -> Bool
    /// Reports decided (passed an audit, or not sampled) with `from <= decidedAt < to`.
    func earningTranscodes(decidedFrom from: Int64, to: Int64) async throws -> [TranscodeReport]
    /// Voids what a node's transcodes decided at or after `since` would earn (it lied in an audit).
    /// - Returns: how many were voided.
    func forfeitTranscodes(node: String, since: Int64) async throws -> Int
}

/// Revenue and settled epochs (and the claims an epoch pays for).
package protocol EpochStore: Sendable {
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

extension ClaimStore {
    /// ``saveClaims(_:)-(ClaimsToSave)`` of `claims` and `batches`.
    package func saveClaims(_ claims: [ClaimRecord], batches: [ReceiptBatch]) async throws {
        try await saveClaims(ClaimsToSave(claims, batches: batches))
    }
}
