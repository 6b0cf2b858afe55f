import DePINProtocol
import Foundation

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
