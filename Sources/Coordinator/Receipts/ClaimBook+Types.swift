import Crypto
import DePINProtocol
import Synchronization

/// The policy of ``ClaimBook`` and the values its rounds pass around.
extension ClaimBook {
    package struct Policy: Sendable, Equatable {
        /// How many times a title's size one session may be delivered (renditions, seeks, retries).
        package var bytesFactor = 3.0
        package var maxEdgesPerSession = 5
        /// How far ahead of playback a player may fetch, seconds.
        package var bufferSeconds: Int64 = 120
        /// Clock difference tolerated between edges and the coordinator, seconds.
        package var skew: Int64 = 300
        /// How long after it is issued a session may be delivered (the token lifetime), seconds.
        package var sessionLifetime: Int64 = 6 * 3600
        /// The peak bitrate a live title is taken to have until its recording says (bits per
        /// second): above what the live ladder makes of a 1080p source.
        package var liveBitrate: Int64 = 20_000_000
        package init() {}
    }

    /// A round waiting for its write, as the writer holds it (``StateMachine`` keeps its number and
    /// what it relied on).
    struct Write {
        /// What to store, or why the round could not be laid out (it fails as a failed write).
        var save: Result<ClaimsToSave, any Error>
        var sessions: [UInt128: SessionWrite]
        var done: CheckedContinuation<Void, any Error>
    }

    /// What a round did to one session: its totals after, its claims added, when it was issued.
    package struct SessionWrite: Sendable {
        package var delivered: Delivered
        package var added: [UInt128]
        package var issued: Int64

        package init(delivered: Delivered, added: [UInt128], issued: Int64) {
            self.delivered = delivered
            self.added = added
            self.issued = issued
        }
    }

    /// What a session has been delivered: bytes, and by which edges (sorted).
    package struct Delivered: Sendable, Equatable {
        package var bytes: Int64 = 0
        package var edges: [String] = []

        package init(bytes: Int64 = 0, edges: [String] = []) {
            self.bytes = bytes
            self.edges = edges
        }

        /// Adds `edge` where it sorts, unless it is there (one array, not three).
        package mutating func add(edge: String) {
            guard !edges.contains(edge) else { return }
            edges.insert(edge, at: edges.firstIndex { $0 > edge } ?? edges.count)
        }
    }

    /// A session's claim ids in memory: the first kept inline (a session usually has one claim
    /// an edge's batch, so most need no set), the rest in a set.
    struct ClaimIDs: ExpressibleByArrayLiteral {
        private var first: UInt128?
        private var rest: Set<UInt128> = []

        init(arrayLiteral ids: UInt128...) { formUnion(ids) }

        func contains(_ id: UInt128) -> Bool { first == id || (!rest.isEmpty && rest.contains(id)) }

        mutating func insert(_ id: UInt128) {
            if first == nil {
                first = id
            } else if first != id {
                rest.insert(id)
            }
        }

        mutating func formUnion(_ ids: [UInt128]) { for id in ids { insert(id) } }
    }

    /// A claim in memory: its session's key (the session MAC) and its id, as numbers.
    package struct ClaimKey: Hashable, Sendable {
        package var session: UInt128
        package var id: UInt128

        package init(session: UInt128, id: UInt128) {
            self.session = session
            self.id = id
        }
    }

    /// Where a claim of a round in flight is: the round's number and its receipt's index in
    /// the round's signed batch.
    struct InFlight: Equatable {
        var round: Int
        var index: Int32
    }

    /// One edge's batch in a round, checked as far as it can be without the store.
    struct Submission {
        var claims: [Prepared]
        var node: String
        /// Where a waiting batch gets its answer (or nil: the turn to run the next round).
        var reply: CheckedContinuation<Result<[Outcome], any Error>?, Never>?
    }

    /// A claim after the checks that need no store: a reason to refuse it, or when its session
    /// was issued, its key and its receipt's leaf hash.
    package enum Prepared: Sendable {
        case refused(DeliveryClaim, String)
        case ready(DeliveryReceipt.Body, issued: Int64, key: ClaimKey, leaf: SIMD32<UInt8>)
    }

    /// What a round decided for one claim.
    enum Outcome: Sendable {
        /// Accepted: the receipt is the signed batch's `index`-th.
        case signed(SignedRound, index: Int)
        /// Accepted before: the receipt it got then.
        case again(DeliveryReceipt)
        case refused(claim: String, reason: String)
    }

    /// A round's accepted claims, shared by the submissions it answers, and their signed
    /// batch: signed off the actor once the round is checked, before its write is queued.
    final class SignedRound: Sendable {
        let bodies: [DeliveryReceipt.Body]
        /// Their leaf hashes, end to end.
        let leaves: [UInt8]
        private let signed = Mutex<DeliveryReceipt.SignedBatch?>(nil)

        init(bodies: [DeliveryReceipt.Body], leaves: [UInt8]) {
            self.bodies = bodies
            self.leaves = leaves
        }

        func sign(with key: Curve25519.Signing.PrivateKey) throws -> DeliveryReceipt.SignedBatch {
            let batch = try DeliveryReceipt.SignedBatch(bodies, leaves: leaves, with: key)
            signed.withLock { $0 = batch }
            return batch
        }

        /// The signed batch. Read only once the round's write has finished (or a later
        /// round's: rounds are written in order), which is after it was signed.
        var batch: DeliveryReceipt.SignedBatch { signed.withLock { $0! } }
    }

    /// What a round wrote, or nil when it accepted nothing.
    struct RoundWrite {
        var reliesOn: Int?
        /// The accepted claims, their keys (in the same order), the id their batch will have and
        /// their first acceptance time.
        var round: SignedRound?
        var claims: [ClaimKey]
        var batchID: String
        var acceptedAt: Int64
        var sessions: [UInt128: SessionWrite]
    }
}
