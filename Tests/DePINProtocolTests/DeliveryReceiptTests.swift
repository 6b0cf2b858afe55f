import Crypto
import DePINProtocol
import Foundation
import Testing

@Suite("Delivery receipts: batch-signed, each verifiable alone")
struct DeliveryReceiptTests {
    static func body(_ index: Int, node: String = "node-1") -> DeliveryReceipt.Body {
        DeliveryReceipt.Body(
            claim: DeliveryClaim(
                id: DeliveryClaim.newID(), content: "title", session: "s-\(index)", bytes: Int64(1000 + index), segments: 1, ttfbMilliseconds: 5,
                firstAt: 100, lastAt: 110),
            node: node, acceptedAt: 120)
    }

    @Test("every receipt of a batch verifies with the coordinator's key; a changed field, another key or another batch's proof does not")
    func verification() throws {
        let key = Curve25519.Signing.PrivateKey()
        for count in [1, 2, 5, 64, 1000] {
            let receipts = try DeliveryReceipt.sign((0..<count).map { Self.body($0) }, with: key)
            #expect(receipts.count == count && Set(receipts.map(\.signature)).count == 1)
            var verifier = ReceiptVerifier(publicKey: key.publicKey)
            #expect(receipts.allSatisfy { $0.verifies(with: key.publicKey) && verifier.verifies($0) })
        }
        let receipts = try DeliveryReceipt.sign((0..<7).map { Self.body($0) }, with: key)
        var inflated = receipts[3]
        inflated.bytes += 1
        #expect(!inflated.verifies(with: key.publicKey))
        var renamed = receipts[3]
        renamed.node = "node-2"
        #expect(!renamed.verifies(with: key.publicKey))
        #expect(!receipts[3].verifies(with: Curve25519.Signing.PrivateKey().publicKey))
        var moved = receipts[3]
        moved.proof = receipts[4].proof
        #expect(!moved.verifies(with: key.publicKey))
        var verifier = ReceiptVerifier(publicKey: key.publicKey)
        #expect(verifier.verifies(receipts[0]) && !verifier.verifies(inflated))
        #expect(try DeliveryReceipt.sign([], with: key).isEmpty)
    }

    @Test("numbers written by hand into receipt leaves read as Swift writes them, at the edges of Int64 too")
    func decimals() {
        for value in [0, 1, -1, 9, 10, -10, 2_000_000, Int64.max, Int64.min, Int64.min + 1] + (0..<200).map({ _ in Int64.random(in: .min ... .max) })
        {
            var bytes: [UInt8] = Array("x".utf8)
            JSONText.appendDecimal(value, to: &bytes)
            #expect(bytes == Array("x\(value)".utf8))
        }
    }

    @Test("a receipt's leaf is SHA-256 of 0x00 and its canonical lines, as receipts issued before were hashed")
    func leafFormat() {
        for (claim, node, acceptedAt) in [
            (DeliveryClaim(id: "00112233445566778899aabbccddeeff", content: "title-1", session: "1764636000-0011223344556677-" + String(repeating: "ab", count: 16),
                bytes: 2_000_000, segments: 3, ttfbMilliseconds: 12, firstAt: 1_764_636_010, lastAt: 1_764_636_050), "node-1", Int64(1_764_636_060)),
            // Negative and extreme numbers, and text longer than any the coordinator takes.
            (DeliveryClaim(id: "x", content: "", session: String(repeating: "s", count: 300), bytes: .min, segments: .max, ttfbMilliseconds: -1,
                firstAt: -5, lastAt: 0), String(repeating: "n", count: 200), Int64.max),
        ] {
            let body = DeliveryReceipt.Body(claim: claim, node: node, acceptedAt: acceptedAt)
            let text = "DEPIN-RECEIPT-1\n\(claim.id)\n\(node)\n\(claim.content)\n\(claim.session)\n\(claim.bytes)\n\(claim.segments)\n\(claim.ttfbMilliseconds)\n\(claim.firstAt)\n\(claim.lastAt)\n\(acceptedAt)"
            let expected = Array(SHA256.hash(data: [0] + Array(text.utf8)))
            #expect(body.leafHash == expected)
            #expect(withUnsafeBytes(of: body.leafDigest) { Array($0) } == expected)
            #expect(MerkleTree.leafHash(Array(text.utf8)) == expected)
        }
    }

    @Test("the hand-written JSON decodes to the same receipt")
    func json() throws {
        let receipts = try DeliveryReceipt.sign((0..<3).map { Self.body($0) }, with: Curve25519.Signing.PrivateKey())
        for receipt in receipts {
            #expect(try JSONDecoder().decode(DeliveryReceipt.self, from: Data(receipt.json.utf8)) == receipt)
        }
    }
}

@Suite("Claim batches: strict JSON in one pass")
struct ClaimBatchTests {
    @Test("unknown fields, wrong types, non-objects and oversize bodies are refused by name")
    func strict() throws {
        let claim =
            #"{"id":"00112233445566778899aabbccddeeff","content":"t","session":"s","bytes":1,"segments":1,"ttfbMilliseconds":1,"firstAt":1,"lastAt":2}"#
        #expect(try StrictJSON.decode(ClaimBatch.self, from: Data(#"{"claims":[\#(claim)]}"#.utf8)).claims.count == 1)
        for (body, expected) in [
            (#"{"claims":[],"extra":1}"#, "unknown field 'extra'"),
            (#"{"claims":"no"}"#, "field 'claims' has the wrong type"),
            (#"{}"#, "missing field 'claims'"),
            (#"[1,2]"#, "wrong type"),
            (#"{"claims":[{"id":"x"}]}"#, "missing field"),
            ("not json", "not JSON"),
            (#"{"claims":[\#(claim.dropLast()),"x":1}]}"#, "unknown field 'claims.0.x'"),
            (#"{"claims":[\#(claim),\#(claim.dropLast()),"i\u0064s":1}]}"#, "unknown field 'claims.1.ids'"),
            (#"{"claims":[\#(claim.replacingOccurrences(of: #""bytes":1"#, with: #""bytes":1.5"#))]}"#, "field 'claims.0.bytes' has the wrong type"),
            (#"{"claims":[\#(claim.replacingOccurrences(of: #""bytes":1"#, with: #""bytes":"1""#))]}"#, "field 'claims.0.bytes' has the wrong type"),
            (#"{"claims":[\#(claim)] } x"#, "not JSON"),
            (#"{"claims":[\#(claim)"#, "not JSON"),
        ] {
            #expect(performing: { try StrictJSON.decode(ClaimBatch.self, from: Data(body.utf8)) }, throws: { "\($0)".contains(expected) })
        }
        #expect(
            performing: { try StrictJSON.decode(ClaimBatch.self, from: Data(repeating: 32, count: 100), limit: 10) },
            throws: { "\($0)".contains("at most 10") })
        // Escapes (in a key too) and spacing read as JSONDecoder reads them.
        let spaced = " {\n \"claims\" : [ \(claim.replacingOccurrences(of: #""content":"t""#, with: #""\u0063ontent":"t\u0041\/\"""#)) ]\t}\r\n"
        let parsed = try StrictJSON.decode(ClaimBatch.self, from: Data(spaced.utf8))
        #expect(parsed == (try JSONDecoder().decode(ClaimBatch.self, from: Data(spaced.utf8))))
        #expect(parsed.claims.first?.content == "tA/\"")
        // What an edge writes, the parser reads back.
        let claims = (0..<50).map { index in
            DeliveryClaim(
                id: DeliveryClaim.newID(), content: "title-\(index)", session: "s\(index)", bytes: Int64(index) << 33, segments: index,
                ttfbMilliseconds: 7, firstAt: -5, lastAt: 1_800_000_000)
        }
        #expect(try StrictJSON.decode(ClaimBatch.self, from: try JSONEncoder().encode(ClaimBatch(claims: claims))).claims == claims)
    }
}
