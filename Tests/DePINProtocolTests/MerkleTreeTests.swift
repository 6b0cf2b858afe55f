import Crypto
import DePINProtocol
import TestSupport
import Testing

@Suite("Merkle trees over 64 KiB ciphertext chunks")
struct MerkleTreeTests {
    @Test("every chunk's proof verifies against the root, at sizes around chunk boundaries",
          arguments: [0, 1, 65_536, 65_537, 3 * 65_536, 5 * 65_536 + 100, 1_000_000])
    func proofs(size: Int) {
        let data = patternBytes(size)
        let tree = MerkleTree(data: data)
        #expect(tree.chunkCount == max(1, (size + 65_535) / 65_536))
        for chunk in 0..<tree.chunkCount {
            let start = chunk * MerkleTree.chunkSize
            let bytes = data[start..<min(start + MerkleTree.chunkSize, data.count)]
            let proof = tree.proof(chunk: chunk)!
            #expect(proof.verifies(bytes, root: tree.root))
            // A flipped byte, the wrong chunk, or a proof for another index fails.
            if !bytes.isEmpty {
                var flipped = Array(bytes)
                flipped[flipped.count / 2] ^= 1
                #expect(!proof.verifies(flipped, root: tree.root))
            }
            if tree.chunkCount > 1 {
                var moved = proof
                moved.chunk = (chunk + 1) % tree.chunkCount
                #expect(!moved.verifies(bytes, root: tree.root))
            }
        }
        #expect(tree.proof(chunk: tree.chunkCount) == nil)
    }

    @Test("different data, different root; same data, same root")
    func roots() {
        #expect(MerkleTree(data: patternBytes(200_000)).root == MerkleTree(data: patternBytes(200_000)).root)
        #expect(MerkleTree(data: patternBytes(200_000)).root != MerkleTree(data: patternBytes(200_000, seed: 9)).root)
        // A leaf can never pass for an inner node (domain separation).
        let two = MerkleTree(data: patternBytes(2 * 65_536))
        #expect(two.root.count == 32)
    }

    @Test("roots by the rule: inner nodes SHA-256(0x01, left, right), an odd last node moved up; leaves given either way agree")
    func knownRoots() {
        func hash(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
        let leaves = (0..<5).map { hash([0, UInt8($0)]) }
        func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { hash([1] + left + right) }
        let expected: [Int: [UInt8]] = [
            1: leaves[0],
            2: node(leaves[0], leaves[1]),
            3: node(node(leaves[0], leaves[1]), leaves[2]),
            5: node(node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])), leaves[4]),
        ]
        for (count, root) in expected {
            let tree = MerkleTree(leafHashes: Array(leaves[..<count]))
            #expect(tree.root == root && tree.chunkCount == count)
            #expect(MerkleTree(concatenatedLeaves: Array(leaves[..<count].joined())).root == root)
            // (Levels below the root: none for one leaf.)
            #expect(tree.hexLevels.first == (count == 1 ? nil : leaves[..<count].map { JSONText.hex($0) }))
            for index in 0..<count {
                #expect(tree.proof(chunk: index) == tree.proof(chunk: index, hex: tree.hexLevels))
                #expect(tree.proof(chunk: index)!.verifies(leafHash: leaves[index], root: root))
            }
        }
        // A leaf hash of the wrong length is refused, not hashed.
        #expect(!MerkleTree(leafHashes: leaves).proof(chunk: 0)!.verifies(leafHash: [1, 2, 3], root: expected[5]!))
        // One chunk of data: its leaf hash is the root.
        #expect(MerkleTree(data: [7, 8, 9]).root == hash([0, 7, 8, 9]))
    }

    @Test("manifest validation names the first problem")
    func manifestValidation() throws {
        let good = ContentManifest(
            id: "title-1", createdAt: 0, segmentSeconds: 4,
            source: .init(width: 1280, height: 720, frameRate: 30, codecs: "avc1.64001F", hasAudio: false, bandwidth: 1, averageBandwidth: 1, video: "copied", audio: nil),
            segments: [.init(index: 0, duration: 4, length: 32, sha256: String(repeating: "a", count: 64), merkleRoot: String(repeating: "b", count: 64))],
            ladder: Ladder.derive(sourceWidth: 1280, sourceHeight: 720), transcode: EncoderSettings())
        try good.validate()
        var cases: [(ContentManifest, String)] = []
        var m = good; m.version = 99; cases.append((m, "version 99"))
        m = good; m.id = "../x"; cases.append((m, "id"))
        m = good; m.segments[0].index = 3; cases.append((m, "numbered 3"))
        m = good; m.segments[0].length = 33; cases.append((m, "segment 0"))
        m = good; m.ladder.append(Rendition(name: "1080p", width: 1920, height: 1080, videoBitrate: 5_000_000)); cases.append((m, "not shorter"))
        m = good; m.segments = []; cases.append((m, "no segments"))
        for (manifest, words) in cases {
            #expect(throws: ProtocolError.self) { try manifest.validate() }
            do { try manifest.validate() } catch { #expect("\(error)".contains(words), "\(error)") }
        }
    }
}
