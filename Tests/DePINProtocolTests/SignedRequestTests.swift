import Crypto
import DePINProtocol
import Foundation
import TestSupport
import Testing

@Suite("Node identities and signed requests")
struct SignedRequestTests {
    let identity = NodeIdentity()
    let body = Array(#"{"class":"pc","cores":8}"#.utf8)

    func headers(timestamp: Int64 = 1_800_000_000, nonce: String = SignedRequest.newNonce()) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try SignedRequest.headers(identity: identity, method: "POST", path: "/v1/nodes", body: body, timestamp: timestamp, nonce: nonce))
    }

    func verify(_ headers: [String: String], method: String = "POST", path: String = "/v1/nodes", body: [UInt8]? = nil, key: Data? = nil, now: Int64 = 1_800_000_000) throws -> SignedRequest.Verified {
        try SignedRequest.verify(
            headers: headers, method: method, path: path, body: body ?? self.body,
            publicKey: key ?? identity.publicKey.rawRepresentation, now: now)
    }

    @Test("a signed request verifies and says who sent it")
    func verifies() throws {
        let verified = try verify(try headers())
        #expect(verified.node == identity.id)
    }

    @Test("a changed body, path, method, key, or a stale timestamp is refused with the reason")
    func forgeries() throws {
        let good = try headers()
        let other = NodeIdentity()
        let cases: [(() throws -> Void, String)] = [
            ({ _ = try verify(good, body: Array(#"{"class":"pc","cores":64}"#.utf8)) }, "does not verify"),
            ({ _ = try verify(good, path: "/v1/heartbeat") }, "does not verify"),
            ({ _ = try verify(good, method: "PUT") }, "does not verify"),
            ({ _ = try verify(good, key: other.publicKey.rawRepresentation) }, "is not the id of the key"),
            ({ _ = try verify(good, now: 1_800_000_000 + 301) }, "from the coordinator's clock"),
            ({ var h = good; h[SignedRequest.signatureHeader] = nil; _ = try verify(h) }, "is missing"),
            ({ var h = good; h[SignedRequest.nonceHeader] = "xyz"; _ = try verify(h) }, "32 lowercase hex"),
        ]
        for (attempt, words) in cases {
            #expect { try attempt() } throws: { "\($0)".contains(words) }
        }
        // A signature by another key over the same claims.
        var stolen = try Dictionary(uniqueKeysWithValues: SignedRequest.headers(identity: other, method: "POST", path: "/v1/nodes", body: body, timestamp: 1_800_000_000))
        stolen[SignedRequest.nodeHeader] = identity.id
        #expect(throws: ProtocolError.self) { try verify(stolen) }
    }

    @Test("identity files round-trip, are private, are never overwritten, and bad ones are named")
    func files() throws {
        let dir = TemporaryDirectory("identity")
        defer { dir.remove() }
        let path = dir.path + "/node.key"
        try identity.write(to: path)
        #expect(try NodeIdentity.read(from: path).id == identity.id)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(throws: ProtocolError.self) { try NodeIdentity().write(to: path) }
        dir.write("junk.key", Array("not json".utf8))
        #expect { try NodeIdentity.read(from: dir.path + "/junk.key") } throws: { "\($0)".contains("is not a depin identity file") }
        #expect { try NodeIdentity.read(from: dir.path + "/none.key") } throws: { "\($0)".contains("cannot read") }
    }

    @Test("header names match whatever their case, and only letters fold")
    func headerNames() throws {
        #expect(SignedRequest.sameName("x-depin-node", "X-DePIN-Node"))
        #expect(SignedRequest.sameName("X-DEPIN-NONCE", SignedRequest.nonceHeader))
        #expect(!SignedRequest.sameName("x-depin-node", "X-DePIN-Nodes"))
        #expect(!SignedRequest.sameName("x\rdepin-node", "x-depin-node"))
        #expect(!SignedRequest.sameName("x-depin-nodf", "x-depin-node"))
        var lower: [String: String] = [:]
        for (name, value) in try headers() { lower[name.lowercased()] = value }
        #expect(try verify(lower).node == identity.id)
    }
}
