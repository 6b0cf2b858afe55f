import AsyncHTTPClient
import Crypto
import DePINProtocol
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// Talks to a coordinator the way edges and admins do: JSON over HTTP, signed where needed.
struct CoordinatorClient {
    let base: String

    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = []) async throws -> (status: Int, json: [String: Any], text: String) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let text = String(buffer: bytes)
        let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        return (Int(response.status.code), json, text)
    }

    func admin(_ node: String, _ kind: String, _ dhb: Int64) async throws -> Int {
        let body = try JSONSerialization.data(withJSONObject: ["node": node, "kind": kind, "amount": dhb * 100_000_000, "reason": "test \(kind)"])
        return try await send(.POST, "/v1/admin/ledger", body: body, headers: [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")]).status
    }

    func register(_ identity: NodeIdentity, deviceClass: String = "pc", lat: Double, lon: Double, extra: String = "") async throws -> (status: Int, json: [String: Any], text: String) {
        let key = identity.publicKey.rawRepresentation.base64EncodedString()
        let body = Data("""
            {"publicKey":"\(key)","deviceClass":"\(deviceClass)","cores":8,"ramGB":16,"mbps":300,"gpu":true,"diskGB":500,"ssd":true,\
            "latitude":\(lat),"longitude":\(lon),"url":"https://\(identity.id).example:8443"\(extra)}
            """.utf8)
        let headers = try SignedRequest.headers(identity: identity, method: "POST", path: "/v1/nodes", body: body)
        return try await send(.POST, "/v1/nodes", body: body, headers: headers)
    }
}

@Suite("depin coordinator as a process", .serialized)
struct CoordinatorTests {
    @Test("registration, staking, routing and depin route over HTTP; bad requests get 4xx and write nothing")
    func registryOverHTTP() async throws {
        let dir = TemporaryDirectory("coordinator")
        defer { dir.remove() }
        let coordinator = try await CoordinatorProcess.start(["--db", "sqlite:\(dir.path)/c.sqlite"])
        defer { coordinator.stop() }
        let client = CoordinatorClient(base: coordinator.base)
        #expect(try await client.send(.GET, "/healthz").status == 200)

        let paris = NodeIdentity(), berlin = NodeIdentity(), unstaked = NodeIdentity()
        // Admin API: a token is required; the staking rules apply.
        let noToken = try await client.send(.POST, "/v1/admin/ledger", body: Data(#"{"node":"x","kind":"deposit","amount":1,"reason":"r"}"#.utf8))
        #expect(noToken.status == 401)
        #expect(try await client.admin(paris.id, "bond", 1) == 403)
        for node in [paris, berlin] {
            #expect(try await client.admin(node.id, "deposit", 1_000_000) == 200)
            #expect(try await client.admin(node.id, "bond", 1_000_000) == 200)
        }
        #expect(try await client.register(paris, lat: 48.86, lon: 2.35).status == 201)
        #expect(try await client.register(berlin, lat: 52.52, lon: 13.40).status == 201)
        let refused = try await client.register(unstaked, lat: 48.85, lon: 2.30)
        #expect(refused.status == 403 && (refused.json["error"] as? String ?? "").contains("DHB bonded"), "\(refused.text)")

        let route = try await client.send(.GET, "/v1/route?content=movie&lat=48.80&lon=2.40&limit=5")
        let ids = (route.json["edges"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(route.status == 200 && ids == [paris.id, berlin.id], "\(route.text)")
        let cli = try await run(depinBinary, ["route", "--coordinator", coordinator.base, "--content", "movie", "--region", "eu-central"])
        #expect(cli.status == 0 && cli.output.contains("1. \(berlin.id)"), "\(cli.output)")

        // Bad requests: each a clear 4xx.
        let key = paris.publicKey.rawRepresentation.base64EncodedString()
        let body = Data(#"{"publicKey":"\#(key)","deviceClass":"pc","cores":8,"ramGB":16,"mbps":1,"gpu":true,"diskGB":1,"ssd":true,"region":"uk","url":"https://p"}"#.utf8)
        let headers = try SignedRequest.headers(identity: paris, method: "POST", path: "/v1/nodes", body: body)
        #expect(try await client.send(.POST, "/v1/nodes", body: body, headers: headers).status == 201)
        #expect(try await client.send(.POST, "/v1/nodes", body: body, headers: headers).status == 409)  // replay
        #expect(try await client.send(.POST, "/v1/nodes", body: body).status == 401)  // unsigned
        #expect(try await client.register(berlin, lat: 1, lon: 1, extra: #","bogus":1"#).status == 400)
        #expect(try await client.send(.POST, "/v1/nodes", body: Data("{not json".utf8)).status == 400)
        #expect(try await client.send(.POST, "/v1/nodes", body: Data(repeating: 32, count: 200_000)).status == 413)
        #expect(try await client.send(.GET, "/v1/route?content=movie").status == 400)
        #expect(try await client.send(.GET, "/v1/route?content=../x&lat=1&lon=1").status == 400)
        #expect(try await client.send(.GET, "/v1/nodes/\(unstaked.id)").status == 404)

        // Heartbeats; the node's status says whether it is routed, and why not.
        let beat = Data(#"{"load":0.95,"freeCacheBytes":5,"healthy":true}"#.utf8)
        let beatHeaders = try SignedRequest.headers(identity: paris, method: "POST", path: "/v1/heartbeat", body: beat)
        let status = try await client.send(.POST, "/v1/heartbeat", body: beat, headers: beatHeaders)
        #expect(status.status == 200 && status.json["routed"] as? Bool == false && (status.json["reason"] as? String ?? "").contains("load"), "\(status.text)")
        let after = try await client.send(.GET, "/v1/route?content=movie&lat=48.80&lon=2.40")
        #expect((after.json["edges"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } == [berlin.id])
    }

    @Test("a viewer that gives no place is placed by its address through --geo-prefixes; without a match the answer says so")
    func geoPrefixes() async throws {
        let dir = TemporaryDirectory("coordinator-prefixes")
        defer { dir.remove() }
        try "# loopback viewers are in Berlin\n127.0.0.0/8 52.5 13.4\n".write(toFile: dir.path + "/prefixes", atomically: true, encoding: .utf8)
        let coordinator = try await CoordinatorProcess.start(["--db", "sqlite:\(dir.path)/c.sqlite", "--geo-prefixes", dir.path + "/prefixes"])
        defer { coordinator.stop() }
        let client = CoordinatorClient(base: coordinator.base)
        let paris = NodeIdentity(), berlin = NodeIdentity()
        for node in [paris, berlin] {
            #expect(try await client.admin(node.id, "deposit", 1_000_000) == 200)
            #expect(try await client.admin(node.id, "bond", 1_000_000) == 200)
        }
        #expect(try await client.register(paris, lat: 48.86, lon: 2.35).status == 201)
        #expect(try await client.register(berlin, lat: 52.52, lon: 13.40).status == 201)
        let placed = try await client.send(.GET, "/v1/route?content=movie")
        #expect((placed.json["edges"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } == [berlin.id, paris.id], "\(placed.text)")
        let cli = try await run(depinBinary, ["route", "--coordinator", coordinator.base, "--content", "movie"])
        #expect(cli.status == 0 && cli.output.contains("1. \(berlin.id)"), "\(cli.output)")

        // Without a table: a clear 400; a bad table stops the coordinator with the line.
        let plain = try await CoordinatorProcess.start(["--db", "sqlite:\(dir.path)/d.sqlite"])
        defer { plain.stop() }
        let unplaced = try await CoordinatorClient(base: plain.base).send(.GET, "/v1/route?content=movie")
        #expect(unplaced.status == 400 && (unplaced.json["error"] as? String ?? "").contains("no geo prefix covers your address 127.0.0.1"), "\(unplaced.text)")
        try "127.0.0.0/8 narnia\n".write(toFile: dir.path + "/bad", atomically: true, encoding: .utf8)
        let refused = try await run(depinBinary, ["coordinator", "--http-listen", "127.0.0.1:0", "--db", "sqlite:\(dir.path)/e.sqlite", "--geo-prefixes", dir.path + "/bad"])
        #expect(refused.status != 0 && refused.output.contains("line 1"), "\(refused.output)")
    }

    @Test("two coordinators on one PostgreSQL database give the same answers")
    func sharedDatabase() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        try await server.createDatabase("coordinators")
        let url = server.url(database: "coordinators")
        let one = try await CoordinatorProcess.start(["--db", url, "--reload-interval", "1"])
        defer { one.stop() }
        let two = try await CoordinatorProcess.start(["--db", url, "--reload-interval", "1"])
        defer { two.stop() }
        let edge = NodeIdentity()
        let a = CoordinatorClient(base: one.base), b = CoordinatorClient(base: two.base)
        #expect(try await a.admin(edge.id, "deposit", 1_000_000) == 200)
        #expect(try await b.admin(edge.id, "bond", 1_000_000) == 200)  // the ledger is shared
        #expect(try await a.register(edge, lat: 40.7, lon: -74).status == 201)
        var seen: [String] = []
        for _ in 0..<40 where seen.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            let route = try await b.send(.GET, "/v1/route?content=t&region=us-east")
            seen = (route.json["edges"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        #expect(seen == [edge.id])
        // A request signed once cannot be replayed at the other coordinator.
        let beat = Data(#"{"load":0.1,"freeCacheBytes":5,"healthy":true}"#.utf8)
        let headers = try SignedRequest.headers(identity: edge, method: "POST", path: "/v1/heartbeat", body: beat)
        #expect(try await a.send(.POST, "/v1/heartbeat", body: beat, headers: headers).status == 200)
        #expect(try await b.send(.POST, "/v1/heartbeat", body: beat, headers: headers).status == 409)
    }
}

@Suite("coordinator tokens and HLS keys", .serialized)
struct CoordinatorKeyTests {
    static func manifest(_ id: String) -> ContentManifest {
        ContentManifest(
            id: id, createdAt: 0, segmentSeconds: 4,
            source: .init(width: 1280, height: 720, frameRate: 30, codecs: "avc1.64001F", hasAudio: false, bandwidth: 1, averageBandwidth: 1, video: "copied", audio: nil),
            segments: [.init(index: 0, duration: 4, length: 32, sha256: String(repeating: "a", count: 64), merkleRoot: String(repeating: "b", count: 64))],
            ladder: [], transcode: ContentManifest.defaultTranscodeSettings)
    }

    @Test("route answers carry a token bound to the title; the key service gives the key only for a valid token of that title")
    func tokensAndKeys() async throws {
        let dir = TemporaryDirectory("coordinator-keys")
        defer { dir.remove() }
        let coordinator = try await CoordinatorProcess.start([
            "--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/coordinator.key", "--token-lifetime", "8",
        ])
        defer { coordinator.stop() }
        let client = CoordinatorClient(base: coordinator.base)
        let admin = [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")]

        // Register a title and its key.
        let key = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let registration = try JSONSerialization.data(withJSONObject: [
            "manifest": try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.manifest("title"))),
            "key": Data(key).base64EncodedString(),
        ])
        #expect(try await client.send(.POST, "/v1/contents", body: registration).status == 401)
        #expect(try await client.send(.POST, "/v1/contents", body: registration, headers: admin).status == 201)
        #expect(try await client.send(.POST, "/v1/contents", body: registration, headers: admin).status == 409)
        let shortKey = try JSONSerialization.data(withJSONObject: [
            "manifest": try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.manifest("other"))), "key": "AAAA",
        ])
        #expect(try await client.send(.POST, "/v1/contents", body: shortKey, headers: admin).status == 400)
        // A feature-length title (2,000 segments, over 64 KiB of manifest) registers too.
        var long = Self.manifest("feature")
        long.segments = (0..<2000).map { .init(index: $0, duration: 4, length: 32, sha256: String(repeating: "a", count: 64), merkleRoot: String(repeating: "b", count: 64)) }
        let longRegistration = try JSONSerialization.data(withJSONObject: [
            "manifest": try JSONSerialization.jsonObject(with: JSONEncoder().encode(long)), "key": Data(key).base64EncodedString(),
        ])
        #expect(longRegistration.count > 300_000)
        #expect(try await client.send(.POST, "/v1/contents", body: longRegistration, headers: admin).status == 201)

        // The public key verifies route tokens offline.
        let published = try await client.send(.GET, "/v1/keys/coordinator")
        let publicKey = try #require(Data(base64Encoded: published.json["publicKey"] as? String ?? ""))
        let verifier = try await PlaybackTokens(publicKey: publicKey)
        let route = try await client.send(.GET, "/v1/route?content=title&region=uk")
        let token = try #require(route.json["token"] as? String)
        let claims = try await verifier.verify(token, for: "title")
        #expect(claims.session == route.json["session"] as? String)

        let fetched = try await client.send(.GET, "/v1/hls-key/title?token=\(token)")
        #expect(fetched.status == 200)
        var request = HTTPClientRequest(url: coordinator.base + "/v1/hls-key/title")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        #expect(Array(try await response.body.collect(upTo: 100).readableBytesView) == key)

        // Refusals: none, another title's, forged, unknown title, expired.
        #expect(try await client.send(.GET, "/v1/hls-key/title").status == 401)
        let otherToken = try #require(try await client.send(.GET, "/v1/route?content=ghost&region=uk").json["token"] as? String)
        let wrong = try await client.send(.GET, "/v1/hls-key/title?token=\(otherToken)")
        #expect(wrong.status == 403 && (wrong.json["error"] as? String ?? "").contains("for ghost"))
        #expect(try await client.send(.GET, "/v1/hls-key/ghost?token=\(otherToken)").status == 404)
        let forger = await PlaybackTokens(signingKey: .init())
        let forged = try await forger.issue(content: "title", session: "s", lifetime: 60)
        #expect(try await client.send(.GET, "/v1/hls-key/title?token=\(forged)").status == 401)
        // Long enough for a busy machine to use the token while it is valid; then it expires.
        try await Task.sleep(for: .seconds(max(0, claims.expiresAt.timeIntervalSinceNow) + 1.5))
        let expired = try await client.send(.GET, "/v1/hls-key/title?token=\(token)")
        #expect(expired.status == 401 && (expired.json["error"] as? String ?? "").contains("expired"), "\(expired.text)")
    }
}

@Suite("depin publish --coordinator", .serialized)
struct PublishToCoordinatorTests {
    @Test("publishing registers the title: a viewer's token then opens its key at the coordinator")
    func publishRegisters() async throws {
        let dir = TemporaryDirectory("publish-coordinator")
        defer { dir.remove() }
        let coordinator = try await CoordinatorProcess.start(["--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/c.key"])
        defer { coordinator.stop() }
        try await TestClip.make(dir.path + "/in.mp4", seconds: 3, keyint: 30)
        var environment = ProcessInfo.processInfo.environment
        environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] = CoordinatorProcess.adminToken
        let published = try await run(
            depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "clip", "--coordinator", coordinator.base],
            environment: environment)
        #expect(published.status == 0 && published.output.contains("registered clip with"), "\(published.output)")
        let client = CoordinatorClient(base: coordinator.base)
        let token = try #require(try await client.send(.GET, "/v1/route?content=clip&region=uk").json["token"] as? String)
        var request = HTTPClientRequest(url: coordinator.base + "/v1/hls-key/clip?token=\(token)")
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        let key = Array(try await response.body.collect(upTo: 100).readableBytesView)
        #expect(key == Array(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/clip.key"))))

        // A wrong admin token: the local title is complete, and the failure says so.
        environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] = "wrong-token-0123456789"
        let refused = try await run(
            depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "clip2", "--coordinator", coordinator.base],
            environment: environment)
        #expect(refused.status == 1 && refused.output.contains("registering it with") && refused.output.contains("401"), "\(refused.output)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/out/clip2/manifest.json"))
    }
}
