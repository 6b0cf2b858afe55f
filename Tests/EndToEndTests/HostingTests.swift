import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// The suites that run a coordinator and several edges, with FFmpeg: one at a time, so their
/// load does not starve the timing-sensitive tests that run beside them.
@Suite("networks of real processes", .serialized)
enum NetworkSuites {}

/// A network on loopback: a coordinator and edges with one certificate (for 127.0.0.1) that
/// they and the publisher trust, so every edge-to-edge and upload hop is verified TLS.
struct TestNetwork {
    let dir: TemporaryDirectory
    let coordinator: CoordinatorProcess
    let client: CoordinatorClient
    var edges: [String: (id: String, process: EdgeProcess)] = [:]

    var certificate: String { dir.path + "/cert.pem" }

    /// - Parameter trustEdges: the coordinator trusts the edges' certificate (for transcode audits).
    static func start(_ name: String, coordinatorArguments: [String] = [], trustEdges: Bool = false) async throws -> TestNetwork {
        let dir = TemporaryDirectory(name)
        let made = try await run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", dir.path + "/key.pem", "-out", dir.path + "/cert.pem",
            ])
        guard made.status == 0 else { throw ToolError("openssl: \(made.output)") }
        let coordinator = try await CoordinatorProcess.start(
            ["--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/c.key"] + coordinatorArguments
                + (trustEdges ? ["--edge-ca-file", dir.path + "/cert.pem"] : []))
        return TestNetwork(dir: dir, coordinator: coordinator, client: CoordinatorClient(base: coordinator.base))
    }

    /// Starts an edge (staked for its class unless `stake` is false) and returns its node id.
    @discardableResult
    mutating func addEdge(
        _ name: String, _ deviceClass: String, lat: Double, lon: Double, stake: Bool = true, cores: Int = 8, extra: [String] = []
    ) async throws -> String {
        let keyFile = dir.path + "/\(name).key"
        let made = try await run(depinBinary, ["keys", "generate", "--out", keyFile], mergeErrors: false)
        let id = made.output.trimmingCharacters(in: .whitespacesAndNewlines)
        if stake {
            let dhb: Int64 = ["mobile": 100_000, "pc": 1_000_000, "server": 10_000_000][deviceClass]!
            #expect(try await client.admin(id, "deposit", dhb) == 200)
            #expect(try await client.admin(id, "bond", dhb) == 200)
        }
        let process = try await EdgeProcess.start(
            arguments: [
                "--cache-dir", dir.path + "/cache-\(name)", "--coordinator", coordinator.base, "--identity", keyFile, "--class", deviceClass,
                "--lat=\(lat)", "--lon=\(lon)", "--cores", String(cores), "--ram", "16", "--gpu", "true", "--ssd", "true",
                "--tls-cert", certificate, "--tls-key", dir.path + "/key.pem", "--upstream-ca-file", certificate,
            ] + extra)
        edges[name] = (id, process)
        return id
    }

    /// Makes a clip and publishes it as `movie` with the coordinator (uploading to the hosts it picks).
    func publishMovie(seconds: Double = 8, width: Int = 640, height: Int = 360) async throws -> CommandResult {
        try await TestClip.make(dir.path + "/in.mp4", width: width, height: height, seconds: seconds, keyint: 30)
        var environment = ProcessInfo.processInfo.environment
        environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] = CoordinatorProcess.adminToken
        return try await run(
            depinBinary,
            ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "movie", "--coordinator", coordinator.base, "--ca-file", certificate],
            environment: environment)
    }

    /// The ids a route look-up from (lat, lon) answers.
    func routed(_ content: String, lat: Double, lon: Double) async throws -> [String] {
        let answer = try await client.send(.GET, "/v1/route?content=\(content)&lat=\(lat)&lon=\(lon)&limit=10")
        return (answer.json["edges"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    }

    /// Waits (up to `seconds`) until `condition` holds.
    func waitUntil(seconds: Int, _ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<(seconds * 10) {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Every settled storage challenge in the coordinator's database: node, content, segment, outcome.
    func challengeOutcomes() async throws -> [[String]] {
        let rows = try await run(
            "/usr/bin/python3",
            ["-c", "import sqlite3,sys; [print(*r) for r in sqlite3.connect(sys.argv[1]).execute(\"SELECT d.node_id, c.content_id, c.segment, d.outcome FROM challenges c JOIN deadlines d ON d.kind = 'challenge' AND d.id = c.id WHERE d.outcome IS NOT NULL\")]",
             dir.path + "/c.sqlite"],
            mergeErrors: false)
        return rows.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    }

    func stop() {
        edges.values.forEach { $0.process.stop() }
        coordinator.stop()
        dir.remove()
    }
}

extension NetworkSuites {
    @Suite("hosting: titles live on the edges the coordinator picks")
    struct HostingTests {
        @Test("publish uploads to spread hosts; an edge with no upstream fills from them, transcodes with a leased key, and ffmpeg plays; a lost host is replaced by a copy; slashed, unstaked and silent edges are never routed")
        func hostedNetwork() async throws {
            var network = try await TestNetwork.start("hosting", coordinatorArguments: ["--heartbeat-timeout", "12"])
            defer { network.stop() }
            let client = network.client
            // Hosts-to-be in Paris (pc) and Berlin (server); no edge has an upstream.
            let paris = try await network.addEdge("paris", "pc", lat: 48.86, lon: 2.35)
            let berlin = try await network.addEdge("berlin", "server", lat: 52.52, lon: 13.40)
            #expect(try await network.waitUntil(seconds: 10) { Set(try await network.routed("movie", lat: 50, lon: 8)) == [paris, berlin] })

            let published = try await network.publishMovie(width: 1280, height: 720)
            #expect(published.status == 0, "\(published.output)")
            #expect(published.output.contains("uploaded movie to \(paris)") && published.output.contains("uploaded movie to \(berlin)"), "\(published.output)")
            let manifest = try JSONDecoder().decode(ContentManifest.self, from: Data(contentsOf: URL(fileURLWithPath: network.dir.path + "/out/movie/manifest.json")))
            for name in ["paris", "berlin"] {
                for segment in manifest.segments {
                    let hosted = network.dir.path + "/cache-\(name)/hosted/movie/source/\(segment.index).ts"
                    #expect(FileManager.default.contents(atPath: hosted) == FileManager.default.contents(atPath: network.dir.path + "/out/movie/source/\(segment.index).ts"))
                }
            }

            // A New York pc joins, with a slashed pc and an unstaked one beside it.
            let newYork = try await network.addEdge("newyork", "pc", lat: 40.71, lon: -74.0, extra: ["--transcode", "true"])
            let slashed = try await network.addEdge("slashed", "pc", lat: 40.72, lon: -74.01)
            let unstaked = try await network.addEdge("unstaked", "pc", lat: 40.70, lon: -73.99, stake: false)
            #expect(try await network.waitUntil(seconds: 10) { try await network.routed("movie", lat: 40.7, lon: -74).contains(slashed) })
            #expect(try await client.admin(slashed, "slash", 1) == 200)
            let routes = try await network.routed("movie", lat: 40.7, lon: -74)
            #expect(routes == [newYork, paris, berlin], "routes \(routes)")
            #expect(!routes.contains(unstaked))
            // (The edge hears why at its next heartbeat, a few seconds on under load.)
            #expect(try await network.waitUntil(seconds: 15) { network.edges["unstaked"]!.process.log.contains("DHB bonded") })

            // A viewer in New York plays through the New York edge, which has no upstream: segments
            // come from the hosts, renditions are transcoded there with a leased key, the key from
            // the coordinator.
            let route = try await client.send(.GET, "/v1/route?content=movie&lat=40.7&lon=-74")
            let token = try #require(route.json["token"] as? String)
            let edgeURL = try #require((route.json["edges"] as? [[String: Any]])?.first?["url"] as? String)
            #expect(edgeURL == network.edges["newyork"]!.process.httpsBase)
            let play = try await run(
                "/usr/bin/ffmpeg",
                ["-v", "error", "-tls_verify", "0", "-i", "\(edgeURL)/v/movie/master.m3u8?token=\(token)", "-map", "0:v", "-f", "framecrc", "-"],
                mergeErrors: false)
            #expect(play.status == 0)
            // Every video frame of the source and of each rendition decoded (8 s at 30 fps each).
            #expect(!manifest.ladder.isEmpty)
            let frames = play.output.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
            #expect(frames == 240 * (1 + manifest.ladder.count), "\(frames) frames: \(play.output.suffix(300))")
            let newYorkLog = network.edges["newyork"]!.process.log
            #expect(newYorkLog.contains("keys leased from the coordinator") && newYorkLog.contains("transcoded movie/source/0.ts"), "\(newYorkLog.suffix(800))")
            #expect(!FileManager.default.fileExists(atPath: network.dir.path + "/cache-newyork/hosted/movie"))

            // Berlin dies: it stops being routed, and the New York edge is asked to host in its
            // place, copying the title from Paris.
            network.edges["berlin"]!.process.kill(SIGKILL)
            #expect(try await network.waitUntil(seconds: 30) { !(try await network.routed("movie", lat: 50, lon: 8).contains(berlin)) })
            let copied = try await network.waitUntil(seconds: 30) {
                manifest.segments.allSatisfy { FileManager.default.fileExists(atPath: network.dir.path + "/cache-newyork/hosted/movie/source/\($0.index).ts") }
            }
            #expect(copied, "\(network.coordinator.log.suffix(600))\n\(network.edges["newyork"]!.process.log.suffix(600))")
            #expect(try await network.waitUntil(seconds: 10) { network.edges["newyork"]!.process.log.contains("reported to the coordinator: hosting movie") })
            #expect(try await !network.routed("movie", lat: 40.7, lon: -74).contains(slashed))
        }

        @Test("uploads, task polls and lease requests that are not what they claim get a clear 4xx and store nothing")
        func refusals() async throws {
            var network = try await TestNetwork.start("hosting-refusals")
            defer { network.stop() }
            let client = network.client
            let host = try await network.addEdge("host", "server", lat: 48.86, lon: 2.35)
            #expect(try await network.waitUntil(seconds: 10) { try await network.routed("movie", lat: 48, lon: 2) == [host] })
            let edge = network.edges["host"]!.process

            // The coordinator picks the only edge as host and answers an upload token for it.
            try await TestClip.make(network.dir.path + "/in.mp4", seconds: 4, keyint: 30)
            let published = try await run(depinBinary, ["publish", network.dir.path + "/in.mp4", "--out", network.dir.path + "/out", "--id", "movie"])
            #expect(published.status == 0)
            let manifestData = try Data(contentsOf: URL(fileURLWithPath: network.dir.path + "/out/movie/manifest.json"))
            let key = try Data(contentsOf: URL(fileURLWithPath: network.dir.path + "/out/movie.key"))
            let registration = try JSONSerialization.data(withJSONObject: [
                "manifest": try JSONSerialization.jsonObject(with: manifestData), "key": key.base64EncodedString(),
            ])
            let registered = try await client.send(.POST, "/v1/contents", body: registration, headers: [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")])
            let hosts = try JSONDecoder().decode(ContentRegistrationAnswer.self, from: Data(registered.text.utf8)).hosts
            #expect(registered.status == 201 && hosts.map(\.id) == [host], "\(registered.text)")
            let uploadToken = hosts[0].token
            let viewerToken = try #require(try await client.send(.GET, "/v1/route?content=movie&lat=48&lon=2").json["token"] as? String)

            func put(_ path: String, _ body: Data, token: String?) async throws -> (Int, String) {
                var request = HTTPClientRequest(url: "\(edge.httpBase)/hosting/\(path)")
                request.method = .PUT
                if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 16)))
            }
            let segment = try Data(contentsOf: URL(fileURLWithPath: network.dir.path + "/out/movie/source/0.ts"))
            #expect(try await put("movie/manifest.json", manifestData, token: nil).0 == 401)
            let byViewer = try await put("movie/manifest.json", manifestData, token: viewerToken)
            #expect(byViewer.0 == 403 && byViewer.1.contains("does not let anyone upload"), "\(byViewer)")
            let early = try await put("movie/source/0.ts", segment, token: uploadToken)
            #expect(early.0 == 409 && early.1.contains("manifest.json first"), "\(early)")
            #expect(try await put("movie/manifest.json", Data("{\"id\":\"movie\"}".utf8), token: uploadToken).0 == 422)
            #expect(try await put("movie/manifest.json", manifestData, token: uploadToken).0 == 201)
            var damaged = segment
            damaged[damaged.count / 2] ^= 0xff
            let bad = try await put("movie/source/0.ts", damaged, token: uploadToken)
            #expect(bad.0 == 422 && bad.1.contains("SHA-256"), "\(bad)")
            #expect(try await put("movie/source/99.ts", segment, token: uploadToken).0 == 422)
            #expect(try await put("movie/../etc/passwd", segment, token: uploadToken).0 == 400)
            #expect(try await put("movie/source/0.ts", segment, token: uploadToken).0 == 201)
            #expect(byteMismatch(FileManager.default.contents(atPath: network.dir.path + "/cache-host/hosted/movie/source/0.ts") ?? Data(), segment) == nil)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: network.dir.path + "/cache-host/hosted/.tmp"))?.isEmpty == true)
            let get = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "\(edge.httpBase)/hosting/movie/source/0.ts"], mergeErrors: false)
            #expect(get.output == "405")

            // Task polls and leases: signed by a registered node, well-formed, and leases only for
            // a transcoding task.
            let stranger = NodeIdentity()
            let poll = Data(#"{"after":0,"wait":0,"hosted":[]}"#.utf8)
            let unsigned = try await client.send(.POST, "/v1/tasks", body: poll)
            #expect(unsigned.status == 401)
            let strangerHeaders = try SignedRequest.headers(identity: stranger, method: "POST", path: "/v1/tasks", body: poll)
            #expect(try await client.send(.POST, "/v1/tasks", body: poll, headers: strangerHeaders).status == 401)
            let badPoll = Data(#"{"after":0,"wait":600,"hosted":[]}"#.utf8)
            #expect(try await client.send(.POST, "/v1/tasks", body: badPoll, headers: strangerHeaders).status == 400)
            #expect(try await client.send(.POST, "/v1/tasks", body: Data(#"{"after":0,"wait":0,"hosted":[],"x":1}"#.utf8)).status == 400)
            let lease = Data(#"{"content":"movie","leaseKey":"AAAA"}"#.utf8)
            #expect(try await client.send(.POST, "/v1/leases", body: lease).status == 400)
            let x25519 = Data(repeating: 9, count: 32).base64EncodedString()
            let leaseBody = Data(#"{"content":"movie","leaseKey":"\#(x25519)"}"#.utf8)
            #expect(try await client.send(.POST, "/v1/leases", body: leaseBody, headers: SignedRequest.headers(identity: stranger, method: "POST", path: "/v1/leases", body: leaseBody)).status == 401)

            // Transcode reports and probe answers: signed by a registered node, well-formed; a
            // report for work the node was not given is refused with its reason, and stores nothing.
            let hostIdentity = try NodeIdentity.read(from: network.dir.path + "/host.key")
            func signed(_ path: String, _ body: Data) async throws -> (status: Int, text: String) {
                let answer = try await client.send(.POST, path, body: body, headers: SignedRequest.headers(identity: hostIdentity, method: "POST", path: path, body: body))
                return (answer.status, answer.text)
            }
            let made = #"{"content":"movie","rendition":"360p","segment":0,"bytes":1000,"sha256":"\#(String(repeating: "ab", count: 32))"}"#
            #expect(try await client.send(.POST, "/v1/transcodes", body: Data(#"{"made":[\#(made)]}"#.utf8)).status == 401)
            #expect(try await signed("/v1/transcodes", Data(#"{"made":[]}"#.utf8)).status == 400)
            #expect(try await signed("/v1/transcodes", Data(#"{"made":[\#(made)],"extra":1}"#.utf8)).status == 400)
            let nested = try await signed("/v1/transcodes", Data(#"{"made":[{"content":"movie","x":1}]}"#.utf8))
            #expect(nested.status == 400 && nested.text.contains("unknown field 'x'"), "\(nested)")
            let notGiven = try await signed("/v1/transcodes", Data(#"{"made":[\#(made)]}"#.utf8))
            #expect(notGiven.status == 200 && notGiven.text.contains("no transcoding task"), "\(notGiven)")
            let stored = try await run(
                "/usr/bin/python3", ["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM transcodes').fetchone()[0])", network.dir.path + "/c.sqlite"],
                mergeErrors: false)
            #expect(stored.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
            #expect(try await client.send(.POST, "/v1/probes", body: Data(#"{"id":"x","nonces":[]}"#.utf8)).status == 401)
            #expect(try await signed("/v1/probes", Data(#"{"id":"x","nonces":"no"}"#.utf8)).status == 400)
            let unknownProbe = try await signed("/v1/probes", Data(#"{"id":"0123456789abcdef0123456789abcdef","nonces":[1]}"#.utf8))
            #expect(unknownProbe.status == 400 && unknownProbe.text.contains("has no probe"), "\(unknownProbe)")
        }
        @Test("a host whose copy of a title is not whole answers a peer's fill of a file it lacks with a 404 at once, asking no other host; a viewer there is served from the hosts")
        func partialHostAnswersPeersFromWhatItHolds() async throws {
            // One host per title: the coordinator must not make Sydney a host of its own.
            var network = try await TestNetwork.start("partial-host", coordinatorArguments: ["--replicas", "1"])
            defer { network.stop() }
            let host = try await network.addEdge("host", "server", lat: 48.86, lon: 2.35)
            #expect(try await network.waitUntil(seconds: 10) { try await network.routed("movie", lat: 48.86, lon: 2.35) == [host] })
            #expect(try await network.publishMovie(seconds: 4).status == 0)
            // Sydney holds only the title's manifest, as a host does while its upload or copy is
            // under way.
            let partial = try await network.addEdge("partial", "server", lat: -33.87, lon: 151.21)
            #expect(try await network.waitUntil(seconds: 10) { try await network.routed("movie", lat: -33.87, lon: 151.21).first == partial })
            let sydney = network.edges["partial"]!.process
            let upload = try await network.signedToken(content: "movie", session: "host:\(partial)", age: 0, lifetime: 600)
            let put = try await run(
                "/usr/bin/curl",
                [
                    "-s", "-k", "--http1.1", "-w", " %{http_code}", "-X", "PUT", "--data-binary", "@\(network.dir.path)/out/movie/manifest.json",
                    "-H", "Authorization: Bearer \(upload)", "\(sydney.httpsBase)/hosting/movie/manifest.json",
                ], mergeErrors: false)
            // Over HTTP/2 an upload is refused, and the answer says why (the refusal's body once
            // went missing behind the stream's reset).
            let overH2 = try await run(
                "/usr/bin/curl",
                [
                    "-s", "-k", "-w", " %{http_code}", "-X", "PUT", "--data-binary", "@\(network.dir.path)/out/movie/manifest.json", "-H",
                    "Authorization: Bearer \(upload)", "\(sydney.httpsBase)/hosting/movie/manifest.json",
                ], mergeErrors: false)
            #expect(overH2.output.hasSuffix(" 400") && overH2.output.contains("go over HTTP/1.1"), "\(overH2.output)")
            #expect(put.output.hasSuffix(" 201") || put.output.hasSuffix(" 200") || put.output.hasSuffix(" 204"), "the manifest upload: \(put.output)")

            func answered(_ edge: EdgeProcess) async throws -> Int {
                let status = try await fetchText("\(edge.httpBase)/status.json")
                let json = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any] ?? [:]
                return (json["requests"] as? [String: Int] ?? [:]).values.reduce(0, +)
            }
            let paris = network.edges["host"]!.process
            let before = try await answered(paris)
            let fill = try await network.signedToken(content: "movie", session: "fill:\(host)", age: 0, lifetime: 600)
            let peer = try await run("/usr/bin/curl", ["-s", "-k", "-w", " %{http_code}", "\(sydney.httpsBase)/v/movie/source/0.ts?token=\(fill)"], mergeErrors: false)
            #expect(peer.output.hasSuffix(" 404") && peer.output.contains("not on this host yet"), "\(peer.output)")
            let after = try await answered(paris)
            #expect(after - before == 1, "Paris answered only the status request itself, no fill from Sydney: \(before) → \(after)")

            let viewer = try #require(try await network.client.send(.GET, "/v1/route?content=movie&lat=-33.87&lon=151.21").json["token"] as? String)
            let served = try await run(
                "/usr/bin/curl", ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "\(sydney.httpsBase)/v/movie/source/0.ts?token=\(viewer)"], mergeErrors: false)
            #expect(served.output == "200", "a viewer in Sydney: \(served.output)")
        }
    }
}
