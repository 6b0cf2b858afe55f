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
    /// Bytes in a hash (SHA-256).
    public static let hashSize = 32

    /// Hashes per level, leaves first, each level's end to end in one array (no array a
    /// hash); the last level holds the root alone.
    private let levels: [[UInt8]]

    public init(data: [UInt8]) {
        var leaves: [UInt8] = []
        leaves.reserveCapacity(max(1, (data.count + Self.chunkSize - 1) / Self.chunkSize) * Self.hashSize)
        var offset = 0
        repeat {
            let end = min(offset + Self.chunkSize, data.count)
            leaves += Self.leafHash(data[offset..<end])
            offset = end
        } while offset < data.count
        self.init(concatenatedLeaves: leaves)
    }

    /// A tree over leaves already hashed with ``leafHash(_:)`` (receipts in a batch, say);
    /// at least one.
    public init(leafHashes leaves: [[UInt8]]) {
        precondition(leaves.allSatisfy { $0.count == Self.hashSize }, "a Merkle leaf hash is 32 bytes")
        self.init(concatenatedLeaves: Array(leaves.joined()))
    }

    /// A tree over leaf hashes given end to end, 32 bytes each; at least one.
    public init(concatenatedLeaves leaves: [UInt8]) {
        precondition(!leaves.isEmpty && leaves.count % Self.hashSize == 0, "a Merkle tree needs at least one 32-byte leaf hash")
        var levels = [leaves]
        while levels.last!.count > Self.hashSize {
            levels.append(Self.parents(of: levels.last!))
        }
        self.levels = levels
    }

    /// The level above `level`: each pair's node hash, an odd last node moved up unchanged.
    private static func parents(of level: [UInt8]) -> [UInt8] {
        let count = level.count / hashSize
        return [UInt8](unsafeUninitializedCapacity: (count + 1) / 2 * hashSize) { buffer, initialized in
            let next = UnsafeMutableRawBufferPointer(buffer)
            level.withUnsafeBytes { level in
                for pair in 0..<count / 2 {
                    let left = UnsafeRawBufferPointer(rebasing: level[(2 * pair * hashSize)..<((2 * pair + 1) * hashSize)])
                    let right = UnsafeRawBufferPointer(rebasing: level[((2 * pair + 1) * hashSize)..<((2 * pair + 2) * hashSize)])
                    nodeHash(left, right, into: UnsafeMutableRawBufferPointer(rebasing: next[(pair * hashSize)..<((pair + 1) * hashSize)]))
                }
                if count % 2 == 1 {
                    UnsafeMutableRawBufferPointer(rebasing: next[(count / 2 * hashSize)..<((count / 2 + 1) * hashSize)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: level[((count - 1) * hashSize)...]))
                }
            }
            initialized = (count + 1) / 2 * hashSize
        }
    }

    public var root: [UInt8] { levels.last! }
    public var chunkCount: Int { levels[0].count / Self.hashSize }

    /// The proof for chunk `index`, or nil when there is no such chunk.
    public func proof(chunk index: Int) -> MerkleProof? { proof(chunk: index, hex: nil) }

    /// Every node below the root in hex, level by level: made once, it spares a batch of proofs
    /// converting the same upper nodes again and again (``proof(chunk:hex:)``).
    public var hexLevels: [[String]] {
        levels.dropLast().map { level in (0..<level.count / Self.hashSize).map { Self.hex(level, node: $0) } }
    }

    /// The proof for chunk `index`, its siblings taken from `hex` (``hexLevels``) when given.
    public func proof(chunk index: Int, hex: [[String]]?) -> MerkleProof? {
        guard index >= 0, index < chunkCount else { return nil }
        var siblings: [String] = []
        siblings.reserveCapacity(levels.count - 1)
        var position = index
        for (depth, level) in levels.dropLast().enumerated() {
            let sibling = position ^ 1
            if sibling < level.count / Self.hashSize { siblings.append(hex?[depth][sibling] ?? Self.hex(level, node: sibling)) }
            position /= 2
        }
        return MerkleProof(chunk: index, chunkCount: chunkCount, siblings: siblings)
    }

    /// The `node`-th hash of `level` in lowercase hex.
    private static func hex(_ level: [UInt8], node: Int) -> String {
        String(unsafeUninitializedCapacity: hashSize * 2) { out in
            let digits: StaticString = "0123456789abcdef"
            for offset in 0..<hashSize {
                let byte = level[node * hashSize + offset]
                out[2 * offset] = digits.utf8Start[Int(byte >> 4)]
                out[2 * offset + 1] = digits.utf8Start[Int(byte & 15)]
            }
            return hashSize * 2
        }
    }

    /// `SHA-256(0x00 || bytes)`.
    public static func leafHash<Bytes: Collection<UInt8>>(_ chunk: Bytes) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: Array(chunk))
        return Array(hasher.finalize())
    }

    static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        precondition(left.count == hashSize && right.count == hashSize, "a Merkle node hashes two 32-byte hashes")
        return [UInt8](unsafeUninitializedCapacity: hashSize) { out, initialized in
            left.withUnsafeBytes { left in right.withUnsafeBytes { right in nodeHash(left, right, into: UnsafeMutableRawBufferPointer(out)) } }
            initialized = hashSize
        }
    }

    /// `SHA-256(0x01 || left || right)` into `out` (32 bytes), with no array made.
    private static func nodeHash(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        withUnsafeTemporaryAllocation(byteCount: 1 + 2 * hashSize, alignment: 8) { message in
            message[0] = 1
            UnsafeMutableRawBufferPointer(rebasing: message[1...hashSize]).copyMemory(from: left)
            UnsafeMutableRawBufferPointer(rebasing: message[(1 + hashSize)...]).copyMemory(from: right)
            var hasher = SHA256()
            hasher.update(bufferPointer: UnsafeRawBufferPointer(message))
            hasher.finalize().withUnsafeBytes { out.copyMemory(from: $0) }
        }
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
        guard chunk >= 0, chunk < chunkCount, leafHash.count == MerkleTree.hashSize else { return false }
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
