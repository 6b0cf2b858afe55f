import Crypto

/// A binary SHA-256 Merkle tree over the 64 KiB chunks of a segment's ciphertext, so a host can
/// prove it holds any chunk by sending that chunk and the hashes on its path to the root.
///
/// Leaves are `SHA-256(0x00 || chunk)`, inner nodes `SHA-256(0x01 || left || right)` (domain
/// separation as in RFC 6962, so a leaf can never pass for an inner node); an odd node at the
/// end of a level moves up unchanged. An empty input has one empty chunk.
///
/// ## Performance characteristics
/// Building hashes every byte once (SHA-256, about 1.5 GB/s here) plus one hash per node; a
/// proof is `ceil(log2(chunks))` hashes.
public struct MerkleTree: Sendable {
    public static let chunkSize = 64 * 1024

    /// Hashes per level, leaves first; the last level holds the root alone.
    private let levels: [[[UInt8]]]

    public init(data: [UInt8]) {
        var leaves: [[UInt8]] = []
        var offset = 0
        repeat {
            let end = min(offset + Self.chunkSize, data.count)
            leaves.append(Self.leafHash(data[offset..<end]))
            offset = end
        } while offset < data.count
        self.init(leafHashes: leaves)
    }

    /// A tree over leaves already hashed with ``leafHash(_:)`` (receipts in a batch, say);
    /// at least one.
    public init(leafHashes leaves: [[UInt8]]) {
        precondition(!leaves.isEmpty, "a Merkle tree needs at least one leaf")
        var levels = [leaves]
        while levels.last!.count > 1 {
            let level = levels.last!
            var next: [[UInt8]] = []
            for i in stride(from: 0, to: level.count, by: 2) {
                next.append(i + 1 < level.count ? Self.nodeHash(level[i], level[i + 1]) : level[i])
            }
            levels.append(next)
        }
        self.levels = levels
    }

    public var root: [UInt8] { levels.last![0] }
    public var chunkCount: Int { levels[0].count }

    /// The proof for chunk `index`, or nil when there is no such chunk.
    public func proof(chunk index: Int) -> MerkleProof? { proof(chunk: index, hex: nil) }

    /// Every node below the root in hex, level by level: made once, it spares a batch of proofs
    /// converting the same upper nodes again and again (``proof(chunk:hex:)``).
    public var hexLevels: [[String]] { levels.dropLast().map { $0.map(\.hexString) } }

    /// The proof for chunk `index`, its siblings taken from `hex` (``hexLevels``) when given.
    public func proof(chunk index: Int, hex: [[String]]?) -> MerkleProof? {
        guard index >= 0, index < chunkCount else { return nil }
        var siblings: [String] = []
        var position = index
        for (depth, level) in levels.dropLast().enumerated() {
            let sibling = position ^ 1
            if sibling < level.count { siblings.append(hex?[depth][sibling] ?? level[sibling].hexString) }
            position /= 2
        }
        return MerkleProof(chunk: index, chunkCount: chunkCount, siblings: siblings)
    }

    /// `SHA-256(0x00 || bytes)`.
    public static func leafHash<Bytes: Collection<UInt8>>(_ chunk: Bytes) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: Array(chunk))
        return Array(hasher.finalize())
    }

    static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [1])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }
}

/// The hashes that link one chunk to a Merkle root.
public struct MerkleProof: Codable, Sendable, Hashable {
    public var chunk: Int
    public var chunkCount: Int
    /// Sibling hashes from the leaf level up (hex); levels where the node had no sibling are skipped.
    public var siblings: [String]

    public init(chunk: Int, chunkCount: Int, siblings: [String]) {
        self.chunk = chunk
        self.chunkCount = chunkCount
        self.siblings = siblings
    }

    /// True when `data` is chunk ``chunk`` of the content whose root is `root`.
    public func verifies<Bytes: Collection<UInt8>>(_ data: Bytes, root: [UInt8]) -> Bool {
        guard data.count <= MerkleTree.chunkSize else { return false }
        return verifies(leafHash: MerkleTree.leafHash(data), root: root)
    }

    /// True when the leaf whose hash is `leafHash` is leaf ``chunk`` of the tree whose root is `root`.
    public func verifies(leafHash: [UInt8], root: [UInt8]) -> Bool {
        guard chunk >= 0, chunk < chunkCount else { return false }
        var hash = leafHash
        var position = chunk
        var width = chunkCount
        var remaining = siblings[...]
        while width > 1 {
            let sibling = position ^ 1
            if sibling < width {
                guard let hex = remaining.popFirst(), let siblingHash = [UInt8](hex: hex), siblingHash.count == 32 else { return false }
                hash = position % 2 == 0 ? MerkleTree.nodeHash(hash, siblingHash) : MerkleTree.nodeHash(siblingHash, hash)
            }
            position /= 2
            width = (width + 1) / 2
        }
        return remaining.isEmpty && hash == root
    }
}

extension Collection<UInt8> {
    /// Lowercase hex (internal: EdgeCache has its own for the modules that import both).
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Bytes from hex (either case); nil if `hex` is not an even number of hex digits.
    init?(hex: String) {
        guard let bytes = JSONText.bytes(hex: hex) else { return nil }
        self = bytes
    }
}
