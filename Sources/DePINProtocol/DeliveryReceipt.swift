import Crypto
import Foundation

/// What an edge says it delivered to one playback session in one period: sent to the
/// coordinator in a ``ClaimBatch`` signed with the edge's node key.
public struct DeliveryClaim: Codable, Sendable, Equatable, Hashable {
    /// 32 lowercase hex digits, made by the edge, unique: a claim is counted once however often
    /// it is sent.
    public var id: String
    public var content: String
    /// The playback session of the viewer's token.
    public var session: String
    public var bytes: Int64
    public var segments: Int
    /// The shortest time to first byte the edge measured in the period, milliseconds.
    public var ttfbMilliseconds: Int
    /// Seconds since 1970 of the first and the last delivery counted.
    public var firstAt: Int64
    public var lastAt: Int64

    public init(id: String, content: String, session: String, bytes: Int64, segments: Int, ttfbMilliseconds: Int, firstAt: Int64, lastAt: Int64) {
        self.id = id
        self.content = content
        self.session = session
        self.bytes = bytes
        self.segments = segments
        self.ttfbMilliseconds = ttfbMilliseconds
        self.firstAt = firstAt
        self.lastAt = lastAt
    }

    /// A new random claim id.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return JSONText.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// `POST /v1/claims` (signed): claims, at most ``maxClaims``.
public struct ClaimBatch: Codable, Sendable, Equatable, ChecksItsFields, ParsesItsBody {
    public var claims: [DeliveryClaim]

    public static func parse(_ data: Data) throws(ProtocolError) -> ClaimBatch {
        let parsed = data.withUnsafeBytes { raw in Result { () throws(ProtocolError) in try ClaimBatchParser.parse(raw.bindMemory(to: UInt8.self)) } }
        return ClaimBatch(claims: try parsed.get())
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try StrictJSON.refuseUnknown(Self.self, in: container.allKeys.map(\.stringValue))
        claims = try container.decode([DeliveryClaim].self, forKey: AnyKey(stringValue: "claims"))
    }
    public static let knownFields: Set<String> = ["claims"]
    public static let maxClaims = 1000
    /// A claim batch's body limit (a claim is about 250 bytes of JSON).
    public static let maxBytes = 512 * 1024

    public init(claims: [DeliveryClaim]) { self.claims = claims }
}

/// The coordinator's answer to a claim batch: a receipt for each accepted claim, a reason for
/// each refused one.
public struct ClaimAnswer: Codable, Sendable, Equatable {
    public struct Refusal: Codable, Sendable, Equatable {
        public var claim: String
        public var reason: String

        public init(claim: String, reason: String) {
            self.claim = claim
            self.reason = reason
        }
    }
    public var receipts: [DeliveryReceipt]
    public var refused: [Refusal]

    public init(receipts: [DeliveryReceipt], refused: [Refusal]) {
        self.receipts = receipts
        self.refused = refused
    }
}

/// The coordinator's signed word that a claim was checked and accepted.
///
/// Receipts are signed in batches: the coordinator signs (Ed25519) the Merkle root over the
/// batch's receipt hashes once, and each receipt carries the root, the signature and its path
/// to the root, so each one verifies alone, offline, with the coordinator's public key.
public struct DeliveryReceipt: Codable, Sendable, Equatable {
    public var claim: String
    public var node: String
    public var content: String
    public var session: String
    public var bytes: Int64
    public var segments: Int
    public var ttfbMilliseconds: Int
    public var firstAt: Int64
    public var lastAt: Int64
    public var acceptedAt: Int64
    /// Hex Merkle root of the batch, and the path from this receipt to it.
    public var root: String
    public var proof: MerkleProof
    /// base64 Ed25519 signature of ``signedMessage(root:)``.
    public var signature: String

    public init(
        claim: String, node: String, content: String, session: String, bytes: Int64, segments: Int, ttfbMilliseconds: Int, firstAt: Int64,
        lastAt: Int64, acceptedAt: Int64, root: String, proof: MerkleProof, signature: String
    ) {
        self.claim = claim
        self.node = node
        self.content = content
        self.session = session
        self.bytes = bytes
        self.segments = segments
        self.ttfbMilliseconds = ttfbMilliseconds
        self.firstAt = firstAt
        self.lastAt = lastAt
        self.acceptedAt = acceptedAt
        self.root = root
        self.proof = proof
        self.signature = signature
    }

    /// What a receipt says, before it is signed.
    public struct Body: Sendable, Equatable {
        public var claim: DeliveryClaim
        public var node: String
        public var acceptedAt: Int64

        public init(claim: DeliveryClaim, node: String, acceptedAt: Int64) {
            self.claim = claim
            self.node = node
            self.acceptedAt = acceptedAt
        }

        /// The hash of this receipt's leaf in its batch's tree: `SHA-256(0x00 || canonical)`,
        /// the leaf hash of ``MerkleTree``.
        public var leafHash: [UInt8] { withUnsafeBytes(of: leafDigest) { Array($0) } }

        /// ``leafHash`` as a value (no array): hashed in one pass over a buffer on the stack.
        public var leafDigest: SIMD32<UInt8> {
            withLeafBytes { bytes in
                var hasher = SHA256()
                hasher.update(bufferPointer: bytes)
                var digest = SIMD32<UInt8>()
                hasher.finalize().withUnsafeBytes { hash in withUnsafeMutableBytes(of: &digest) { $0.copyMemory(from: hash) } }
                return digest
            }
        }

        /// The canonical bytes hashed into the batch's tree: a version line, then one line per
        /// field (claim id, node, content, session, bytes, segments, ttfbMilliseconds, firstAt,
        /// lastAt, acceptedAt), the last without a newline.
        var canonical: [UInt8] { withLeafBytes { Array($0.dropFirst()) } }

        /// Runs `body` on a leaf's bytes (0x00, then the canonical bytes), written in a buffer
        /// on the stack.
        private func withLeafBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
            let version = "DEPIN-RECEIPT-1"
            // The strings, ten newlines and six numbers.
            let capacity =
                1 + version.utf8.count + 10 + claim.id.utf8.count + node.utf8.count + claim.content.utf8.count + claim.session.utf8.count
                + 6 * JSONText.maxDecimalBytes
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
                var count = 0
                func append(_ text: String) {
                    let copied = text.utf8.withContiguousStorageIfAvailable { bytes in
                        UnsafeMutableBufferPointer(rebasing: buffer[count..<(count + bytes.count)]).initialize(fromContentsOf: bytes)
                    }
                    if copied == nil {
                        for byte in text.utf8 {
                            buffer[count] = byte
                            count += 1
                        }
                    } else {
                        count += text.utf8.count
                    }
                }
                func line(_ text: String) {
                    buffer[count] = UInt8(ascii: "\n")
                    count += 1
                    append(text)
                }
                func line(_ number: Int64) {
                    buffer[count] = UInt8(ascii: "\n")
                    count += 1
                    count += JSONText.writeDecimal(number, to: buffer, at: count)
                }
                buffer[0] = 0
                count = 1
                append(version)
                line(claim.id)
                line(node)
                line(claim.content)
                line(claim.session)
                line(claim.bytes)
                line(Int64(claim.segments))
                line(Int64(claim.ttfbMilliseconds))
                line(claim.firstAt)
                line(claim.lastAt)
                line(acceptedAt)
                return body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[..<count])))
            }
        }
    }

    public var body: Body {
        Body(
            claim: DeliveryClaim(
                id: claim, content: content, session: session, bytes: bytes, segments: segments, ttfbMilliseconds: ttfbMilliseconds,
                firstAt: firstAt, lastAt: lastAt),
            node: node, acceptedAt: acceptedAt)
    }

    /// The receipt as JSON (the same fields `JSONDecoder` reads), written by hand: receipts are
    /// made and stored by the thousand.
    public var json: String {
        var out = "{\"claim\":"
        JSONText.append(claim, to: &out)
        out += ",\"node\":"
        JSONText.append(node, to: &out)
        out += ",\"content\":"
        JSONText.append(content, to: &out)
        out += ",\"session\":"
        JSONText.append(session, to: &out)
        out += ",\"bytes\":\(bytes),\"segments\":\(segments),\"ttfbMilliseconds\":\(ttfbMilliseconds),\"firstAt\":\(firstAt),\"lastAt\":\(lastAt)"
        out += ",\"acceptedAt\":\(acceptedAt),\"root\":"
        JSONText.append(root, to: &out)
        out += ",\"proof\":{\"chunk\":\(proof.chunk),\"chunkCount\":\(proof.chunkCount),\"siblings\":["
        for (index, sibling) in proof.siblings.enumerated() {
            if index > 0 { out += "," }
            JSONText.append(sibling, to: &out)
        }
        out += "]},\"signature\":"
        JSONText.append(signature, to: &out)
        out += "}"
        return out
    }

    /// What the coordinator signs for a batch.
    static func signedMessage(root: [UInt8]) -> [UInt8] { Array("DEPIN-RECEIPTS-1\n".utf8) + root }

    /// Signs `bodies` as one batch: one Ed25519 signature, one receipt each.
    public static func sign(_ bodies: [Body], with key: Curve25519.Signing.PrivateKey) throws -> [DeliveryReceipt] {
        guard !bodies.isEmpty else { return [] }
        var leaves: [UInt8] = []
        leaves.reserveCapacity(bodies.count * MerkleTree.hashSize)
        for body in bodies { withUnsafeBytes(of: body.leafDigest) { leaves += $0 } }
        let batch = try SignedBatch(bodies, leaves: leaves, with: key)
        return bodies.indices.map { batch.receipt($0) }
    }

    /// A batch signed once: its tree over the receipts' leaf hashes and the signature of its
    /// root. Receipts (each with its path) are made from it one by one, when they are needed.
    public struct SignedBatch: Sendable {
        public let bodies: [Body]
        /// The bodies' leaf hashes end to end, 32 bytes each.
        public let leaves: [UInt8]
        public let tree: MerkleTree
        /// base64.
        public let signature: String
        let rootHex: String
        let hexLevels: [[String]]

        /// - Parameter leaves: each body's ``Body/leafHash``, end to end, computed beforehand
        ///   (perhaps on other cores).
        public init(_ bodies: [Body], leaves: [UInt8], with key: Curve25519.Signing.PrivateKey) throws {
            precondition(!bodies.isEmpty && bodies.count * MerkleTree.hashSize == leaves.count, "a signed batch needs one leaf per body")
            self.bodies = bodies
            self.leaves = leaves
            tree = MerkleTree(concatenatedLeaves: leaves)
            signature = try key.signature(for: signedMessage(root: tree.root)).base64EncodedString()
            rootHex = tree.root.hexString
            hexLevels = tree.hexLevels
        }

        /// The receipt of body `index`.
        public func receipt(_ index: Int) -> DeliveryReceipt {
            let body = bodies[index]
            return DeliveryReceipt(
                claim: body.claim.id, node: body.node, content: body.claim.content, session: body.claim.session, bytes: body.claim.bytes,
                segments: body.claim.segments, ttfbMilliseconds: body.claim.ttfbMilliseconds, firstAt: body.claim.firstAt,
                lastAt: body.claim.lastAt, acceptedAt: body.acceptedAt, root: rootHex, proof: tree.proof(chunk: index, hex: hexLevels)!,
                signature: signature)
        }
    }

    /// True when this receipt is in a batch the holder of `publicKey` signed.
    ///
    /// ## Performance characteristics
    /// One Ed25519 verification per receipt; ``ReceiptVerifier`` verifies each batch root once.
    public func verifies(with publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let rootBytes = [UInt8](hex: root), rootBytes.count == 32, let signatureBytes = Data(base64Encoded: signature),
            proof.verifies(leafHash: MerkleTree.leafHash(body.canonical), root: rootBytes)
        else { return false }
        return publicKey.isValidSignature(signatureBytes, for: Self.signedMessage(root: rootBytes))
    }
}

/// Checks many receipts with one coordinator key, verifying each signed batch root once.
public struct ReceiptVerifier {
    let publicKey: Curve25519.Signing.PublicKey
    private var goodRoots: Set<String> = []

    public init(publicKey: Curve25519.Signing.PublicKey) { self.publicKey = publicKey }

    public mutating func verifies(_ receipt: DeliveryReceipt) -> Bool {
        guard let rootBytes = [UInt8](hex: receipt.root), rootBytes.count == 32,
            receipt.proof.verifies(leafHash: MerkleTree.leafHash(receipt.body.canonical), root: rootBytes)
        else { return false }
        let rootKey = receipt.root + "/" + receipt.signature
        if goodRoots.contains(rootKey) { return true }
        guard let signature = Data(base64Encoded: receipt.signature),
            publicKey.isValidSignature(signature, for: DeliveryReceipt.signedMessage(root: rootBytes))
        else { return false }
        goodRoots.insert(rootKey)
        return true
    }
}
