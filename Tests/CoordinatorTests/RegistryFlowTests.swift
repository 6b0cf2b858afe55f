@testable import Coordinator
import Crypto
import DePINProtocol
import Foundation
import Synchronization
import TestSupport
import Testing

/// A clock the test moves.
final class TestClock: Sendable {
    let time = Mutex<Int64>(1_800_000_000)
    func advance(_ seconds: Int64) { time.withLock { $0 += seconds } }
    var now: @Sendable () -> Int64 { { [self] in time.withLock { $0 } } }
}

/// An edge as the registry sees it: an identity and the requests it signs.
struct TestEdge {
    let identity = NodeIdentity()
    var deviceClass = "pc"
    var latitude = 48.85
    var longitude = 2.35

    func registration(cores: Int = 8, extra: String = "") -> Data {
        let key = identity.publicKey.rawRepresentation.base64EncodedString()
        return Data("""
            {"publicKey":"\(key)","deviceClass":"\(deviceClass)","cores":\(cores),"ramGB":16,"mbps":200,"gpu":true,"diskGB":500,"ssd":true,\
            "latitude":\(latitude),"longitude":\(longitude),"url":"https://\(identity.id).example:8443"\(extra)}
            """.utf8)
    }

    func signed(_ body: Data, path: String, at time: Int64) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try SignedRequest.headers(identity: identity, method: "POST", path: path, body: body, timestamp: time))
    }
}

@Suite("Registry: registration, heartbeats, stake and routes over a real store")
struct RegistryFlowTests {
    static let dhb = DeviceClass.baseUnitsPerDHB

    func stake(_ registry: Registry, _ node: String, bond dhb: Int64, at time: Int64) async throws {
        _ = try await registry.record(LedgerEvent(node: node, kind: .deposit, amount: dhb * Self.dhb, reason: "admin: test deposit", at: time))
        _ = try await registry.record(LedgerEvent(node: node, kind: .bond, amount: dhb * Self.dhb, reason: "admin: test bond", at: time))
    }

    @Test("only staked, heartbeating, unslashed delivery edges are routed to; replays and forgeries are refused")
    func lifecycle() async throws {
        let dir = TemporaryDirectory("registry")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        let registry = Registry(store: store, policy: RoutingPolicy(heartbeatTimeout: 30), now: clock.now)
        let edge = TestEdge()
        let paris = GeoPoint(latitude: 48.86, longitude: 2.34)
        let body = edge.registration()

        // No stake yet: refused, with the amount, and nothing registered.
        await #expect { try await registry.register(body: body, headers: edge.signed(body, path: "/v1/nodes", at: clock.now()), path: "/v1/nodes") }
            throws: { ($0 as? RegistryError)?.code == .refused && "\($0)".contains("needs 1,000,000 DHB bonded; 0 is") }
        #expect(try await store.nodes().isEmpty)

        try await stake(registry, edge.identity.id, bond: 1_000_000, at: clock.now())
        let headers = try edge.signed(body, path: "/v1/nodes", at: clock.now())
        let status = try await registry.register(body: body, headers: headers, path: "/v1/nodes")
        #expect(status.refusal == nil)
        #expect(registry.route(content: "t", from: paris, limit: 3).map(\.id) == [edge.identity.id])

        // The same signed request again is a replay; a changed body does not verify.
        await #expect { try await registry.register(body: body, headers: headers, path: "/v1/nodes") } throws: { ($0 as? RegistryError)?.code == .replayed }
        await #expect { try await registry.register(body: edge.registration(cores: 64), headers: try edge.signed(body, path: "/v1/nodes", at: clock.now()), path: "/v1/nodes") }
            throws: { ($0 as? RegistryError)?.code == .unauthorized }

        // Heartbeats keep it routed; silence stops it; a heartbeat brings it back.
        clock.advance(31)
        registry.refresh()
        #expect(registry.route(content: "t", from: paris, limit: 3).isEmpty)
        #expect(try await registry.status(of: edge.identity.id)?.refusal == "no heartbeat for 31 s")
        let beat = Data(#"{"load":0.2,"freeCacheBytes":1000,"healthy":true}"#.utf8)
        _ = try await registry.heartbeat(body: beat, headers: edge.signed(beat, path: "/v1/heartbeat", at: clock.now()), path: "/v1/heartbeat")
        #expect(registry.route(content: "t", from: paris, limit: 3).count == 1)

        // A heartbeat from an unregistered key is refused.
        let stranger = TestEdge()
        await #expect { try await registry.heartbeat(body: beat, headers: stranger.signed(beat, path: "/v1/heartbeat", at: clock.now()), path: "/v1/heartbeat") }
            throws: { ($0 as? RegistryError)?.code == .unauthorized }

        // Slashed: never routed again.
        _ = try await registry.record(LedgerEvent(node: edge.identity.id, kind: .slash, amount: 1, reason: "failed challenges", evidence: "{}", at: clock.now()))
        #expect(registry.route(content: "t", from: paris, limit: 3).isEmpty)
        #expect(try await registry.status(of: edge.identity.id)?.refusal == "slashed")
        try await store.close()
    }

    @Test("the nearest eligible edge wins; mobile (hosting-only) and unstaked edges are never returned")
    func eligibility() async throws {
        let dir = TemporaryDirectory("registry-eligible")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        let registry = Registry(store: store, now: clock.now)
        var near = TestEdge()
        near.latitude = 48.9
        var far = TestEdge()
        far.latitude = 52.52
        far.longitude = 13.40
        var phone = TestEdge()
        phone.deviceClass = "mobile"
        phone.latitude = 48.86
        for (edge, amount) in [(near, Int64(1_000_000)), (far, 1_000_000), (phone, 100_000)] {
            try await stake(registry, edge.identity.id, bond: amount, at: clock.now())
            let body = edge.registration()
            _ = try await registry.register(body: body, headers: edge.signed(body, path: "/v1/nodes", at: clock.now()), path: "/v1/nodes")
        }
        let routes = registry.route(content: "t", from: GeoPoint(latitude: 48.86, longitude: 2.35), limit: 5)
        #expect(routes.map(\.id) == [near.identity.id, far.identity.id])
        #expect(routes[0].distanceKilometres < 10 && routes[1].distanceKilometres > 800)

        // A second coordinator on the same database sees the same edges once it reloads.
        let other = Registry(store: try SQLiteStore(path: dir.path + "/c.sqlite"), now: clock.now)
        try await other.reload()
        #expect(other.route(content: "t", from: GeoPoint(latitude: 48.86, longitude: 2.35), limit: 5).map(\.id) == routes.map(\.id))
        try await store.close()
    }

    @Test("bad registrations are refused with the reason and write nothing")
    func badInput() async throws {
        let dir = TemporaryDirectory("registry-bad")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        let registry = Registry(store: store, now: clock.now)
        let edge = TestEdge()
        try await stake(registry, edge.identity.id, bond: 10_000_000, at: clock.now())
        let key = edge.identity.publicKey.rawRepresentation.base64EncodedString()
        let cases: [(String, RegistryError.Code, String)] = [
            (String(decoding: edge.registration(extra: ",\"stake\":1"), as: UTF8.self), .badRequest, "unknown field 'stake'"),
            (String(decoding: edge.registration(cores: 2), as: UTF8.self), .refused, "needs 4 cores (has 2)"),
            (#"{"publicKey":"\#(key)","deviceClass":"fridge","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"region":"eu-west","url":"https://x"}"#, .badRequest, "not mobile, pc or server"),
            (#"{"publicKey":"\#(key)","deviceClass":"pc","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"region":"atlantis","url":"https://x"}"#, .badRequest, "unknown region"),
            (#"{"publicKey":"\#(key)","deviceClass":"pc","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"latitude":95,"longitude":0,"url":"https://x"}"#, .badRequest, "not a place on Earth"),
            (#"{"publicKey":"\#(key)","deviceClass":"pc","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"region":"uk","url":"ftp://x"}"#, .badRequest, "not an https://"),
            (#"{"publicKey":"c2hvcnQ=","deviceClass":"pc","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"region":"uk","url":"https://x"}"#, .badRequest, "32 bytes"),
        ]
        for (text, code, words) in cases {
            let body = Data(text.utf8)
            await #expect { try await registry.register(body: body, headers: edge.signed(body, path: "/v1/nodes", at: clock.now()), path: "/v1/nodes") }
                throws: { ($0 as? RegistryError)?.code == code && "\($0)".contains(words) }
        }
        #expect(try await store.nodes().isEmpty)
        // The identity point as a key (small order): its forged signature R = B, s = 1 verifies in
        // any verifier without the cofactor, BoringSSL's included; registration refuses the key.
        let identityKey = [UInt8](repeating: 0, count: 32).enumerated().map { $0.offset == 0 ? 1 : $0.element }
        let forgedBody = Data(
            #"{"publicKey":"\#(Data(identityKey).base64EncodedString())","deviceClass":"pc","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"region":"uk","url":"https://x"}"#.utf8)
        let forged = Data([0x58] + [UInt8](repeating: 0x66, count: 31) + [1] + [UInt8](repeating: 0, count: 31))
        let forgedHeaders = [
            SignedRequest.nodeHeader: NodeIdentity.id(of: identityKey), SignedRequest.timestampHeader: String(clock.now()),
            SignedRequest.nonceHeader: SignedRequest.newNonce(), SignedRequest.signatureHeader: forged.base64EncodedString(),
        ]
        #expect(
            try Curve25519.Signing.PublicKey(rawRepresentation: identityKey).isValidSignature(
                forged,
                for: SignedRequest.message(
                    method: "POST", path: "/v1/nodes", timestamp: Int64(forgedHeaders[SignedRequest.timestampHeader]!)!,
                    nonce: forgedHeaders[SignedRequest.nonceHeader]!, body: forgedBody)),
            "the forgery verifies without the cofactor")
        await #expect { try await registry.register(body: forgedBody, headers: forgedHeaders, path: "/v1/nodes") }
            throws: { ($0 as? RegistryError)?.code == .badRequest && "\($0)".contains("small order") }
        #expect(try await store.nodes().isEmpty)
        // Ledger rules refuse too, and leave the ledger as it was.
        let before = try await store.ledger(node: nil).count
        await #expect { try await registry.record(LedgerEvent(node: edge.identity.id, kind: .bond, amount: 1, reason: "too much", at: 0)) }
            throws: { ($0 as? RegistryError)?.code == .refused && "\($0)".contains("0 available") }
        #expect(try await store.ledger(node: nil).count == before)
        try await store.close()
    }

    @Test("an edge serving its viewer capacity goes after edges with room until its heartbeat says it has room again")
    func viewerCapacity() async throws {
        let dir = TemporaryDirectory("registry-audience")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        // Four cores each (the least a pc has), one viewer a core: an edge is full at four viewers.
        let registry = Registry(store: store, policy: RoutingPolicy(heartbeatTimeout: 30, viewersPerCore: 1), now: clock.now)
        let edges = (0..<3).map { index in TestEdge(latitude: 48.85 + Double(index) * 0.01) }
        for edge in edges {
            try await stake(registry, edge.identity.id, bond: 1_000_000, at: clock.now())
            let body = edge.registration(cores: 4)
            _ = try await registry.register(body: body, headers: edge.signed(body, path: "/v1/nodes", at: clock.now()), path: "/v1/nodes")
        }
        let paris = GeoPoint(latitude: 48.86, longitude: 2.34)
        let order = registry.route(content: "show", from: paris, limit: 3).map(\.id)
        #expect(order.count == 3)
        let first = order[0]
        func beat(_ edge: TestEdge, _ json: String) async throws -> NodeStatus {
            let body = Data(json.utf8)
            return try await registry.heartbeat(body: body, headers: edge.signed(body, path: "/v1/heartbeat", at: clock.now()), path: "/v1/heartbeat")
        }
        let firstEdge = try #require(edges.first { $0.identity.id == first })

        // Three viewers routed there: still room. The fourth fills it; the next viewer's answer
        // puts it last, and the others keep their order.
        for _ in 0..<3 { registry.noteViewer(of: "show", at: first) }
        #expect(registry.route(content: "show", from: paris, limit: 3).map(\.id) == order)
        registry.noteViewer(of: "show", at: first)
        #expect(registry.route(content: "show", from: paris, limit: 3).map(\.id) == Array(order.dropFirst()) + [first])
        #expect(registry.route(content: "show", from: paris, limit: 1).map(\.id) == [order[1]])
        #expect(registry.watching("show") == [first: 4])
        #expect(registry.audience(of: first)?.estimate() == 4)

        // Its heartbeat counts what it served: one session left, so it has room again.
        _ = try await beat(firstEdge, #"{"load":0.1,"freeCacheBytes":1000,"healthy":true,"viewers":{"show":1}}"#)
        #expect(registry.route(content: "show", from: paris, limit: 3).map(\.id) == order)
        // Viewers of other titles count too: capacity is the edge's.
        _ = try await beat(firstEdge, #"{"load":0.1,"freeCacheBytes":1000,"healthy":true,"viewers":{"show":3,"talk":1}}"#)
        #expect(registry.route(content: "show", from: paris, limit: 3).map(\.id).last == first)
        #expect(registry.watching("talk") == [first: 1])
        // Every edge full: all are still answered, in the table's order.
        for id in order.dropFirst() { for _ in 0..<4 { registry.noteViewer(of: "show", at: id) } }
        #expect(registry.route(content: "show", from: paris, limit: 3).map(\.id) == order)

        // Bad counts are refused with the reason, and change nothing.
        for (json, reason) in [
            (#"{"load":0.1,"freeCacheBytes":1,"healthy":true,"viewers":{"show":0}}"#, "'show': 0 is not a content id with 1 to 10,000,000 sessions"),
            (#"{"load":0.1,"freeCacheBytes":1,"healthy":true,"viewers":{"../x":3}}"#, "'../x': 3 is not a content id"),
            (#"{"load":0.1,"freeCacheBytes":1,"healthy":true,"viewers":[1]}"#, "viewers"),
        ] {
            await #expect(throws: RegistryError.self) { try await beat(firstEdge, json) }
            do { _ = try await beat(firstEdge, json) } catch { #expect("\(error)".contains(reason), "\(error)") }
        }
        let many = (0...HeartbeatRequest.maxAudienceTitles).map { "\"t\($0)\":1" }.joined(separator: ",")
        do {
            _ = try await beat(firstEdge, #"{"load":0.1,"freeCacheBytes":1,"healthy":true,"viewers":{"# + many + "}}")
            Issue.record("257 titles were taken")
        } catch { #expect("\(error)".contains("names 257 titles; at most 256"), "\(error)") }
        #expect(registry.watching("talk") == [first: 1])
    }

    @Test("an edge's audience: a heartbeat replaces what was routed before it; routes with no heartbeat seen for the timeout start again; an entry that old counts as none")
    func audienceAges() {
        var audience = Audience()
        audience.routed("e", content: "show", at: 100, forgettingBefore: 70)
        audience.routed("e", content: "show", at: 101, forgettingBefore: 71)
        #expect(audience.current("e", since: 71)?.estimate() == 2)
        audience.report("e", titles: ["show": 5, "talk": 1], at: 110)
        audience.routed("e", content: "talk", at: 111, forgettingBefore: 81)
        #expect(audience.current("e", since: 81)?.estimate() == 7)
        #expect(audience.current("e", since: 81)?.estimate(of: "talk") == 2)
        #expect(audience.watching("show", since: 81) == ["e": 5])
        // No heartbeat for more than the timeout (this coordinator sees none of this edge's):
        // the old figures count as none, and routes count from zero again.
        #expect(audience.current("e", since: 141) == nil && audience.watching("show", since: 141).isEmpty)
        audience.routed("e", content: "show", at: 150, forgettingBefore: 120)
        #expect(audience.current("e", since: 120) == Audience.Edge(routed: ["show": 1], at: 150))
    }
}
