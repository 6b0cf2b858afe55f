import DePINProtocol
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// An HTTP exchange made with curl (which trusts the network's certificate): status, headers
/// (names lower-cased) and body.
struct Fetched {
    let status: Int
    let headers: [String: String]
    let body: Data
    var text: String { String(decoding: body, as: UTF8.self) }

    static func curl(_ url: String, method: String = "GET", headers: [String] = [], body: String? = nil, ca: String? = nil) async throws -> Fetched {
        let dir = TemporaryDirectory("curl")
        defer { dir.remove() }
        var arguments = ["-s", "-X", method, "-D", dir.path + "/headers", "-o", dir.path + "/body", "-w", "%{http_code}", url]
        if let ca { arguments += ["--cacert", ca] }
        for header in headers { arguments += ["-H", header] }
        if let body { arguments += ["--data-binary", body] }
        let result = try await run("/usr/bin/curl", arguments, mergeErrors: false)
        let lines = ((try? String(contentsOfFile: dir.path + "/headers", encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline)
        var fields: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let data = FileManager.default.contents(atPath: dir.path + "/body") ?? Data()
        return Fetched(status: Int(result.output) ?? 0, headers: fields, body: data)
    }
}

extension NetworkSuites {
    @Suite("viewers: keys on the edge's origin, CORS, viewer events and Content Steering")
    struct ViewerTests {
        static let places = [(name: "paris", lat: 48.86, lon: 2.35), (name: "berlin", lat: 52.52, lon: 13.40)]

        @Test("an edge serves a title's key on its own origin, refusing tokens as the coordinator does, and never writes it to disk; ffmpeg plays with it")
        func keyOnTheEdgesOrigin() async throws {
            let network = try await TestNetwork.hosting("viewer-keys", seconds: 8, places: Self.places)
            defer { network.stop() }
            let route = try await network.viewerRoute()
            let paris = network.edge("paris")
            let ca = network.certificate

            // Playlists point the key at the edge itself, with the token.
            let playlist = try await Fetched.curl("\(paris.httpsBase)/v/movie/source/index.m3u8?token=\(route.token)", ca: ca)
            #expect(playlist.status == 200)
            #expect(playlist.text.contains("URI=\"/v/movie/key?token=\(route.token)\""), "\(playlist.text)")
            #expect(!playlist.text.contains(network.coordinator.base), "no URI in a viewer's playlist leaves the edge's origin")

            // The key the edge relays is the coordinator's, with CORS and no caching.
            let fromEdge = try await Fetched.curl("\(paris.httpsBase)/v/movie/key?token=\(route.token)", ca: ca)
            let fromCoordinator = try await Fetched.curl("\(network.coordinator.base)/v1/hls-key/movie?token=\(route.token)")
            #expect(fromEdge.status == 200 && fromEdge.body.count == 16)
            #expect(fromEdge.body == fromCoordinator.body)
            #expect(fromEdge.headers["cache-control"] == "private, no-store")
            #expect(fromEdge.headers["access-control-allow-origin"] == "*")
            let bearer = try await Fetched.curl("\(paris.httpsBase)/v/movie/key", headers: ["Authorization: Bearer \(route.token)"], ca: ca)
            #expect(bearer.status == 200 && bearer.body == fromCoordinator.body)

            // Refused exactly as the coordinator refuses: none, expired, forged, another title's.
            let expired = try await network.signedToken(content: "movie", age: 7200, lifetime: 3600)
            let otherTitle = try await network.viewerRoute(content: "other").token
            let forged = String(route.token.dropLast(4)) + (route.token.hasSuffix("AAAA") ? "BBBB" : "AAAA")
            let edgeToken = try await network.signedToken(content: "movie", session: "fill:\(network.edges["berlin"]!.id)", age: 0, lifetime: 600)
            for (what, query, status) in [("no token", "", 401), ("an expired token", "?token=\(expired)", 401), ("a forged token", "?token=\(forged)", 401),
                ("another title's token", "?token=\(otherTitle)", 403), ("an edge's fill token", "?token=\(edgeToken)", 403)] {
                let edge = try await Fetched.curl("\(paris.httpsBase)/v/movie/key\(query)", ca: ca)
                let coordinator = try await Fetched.curl("\(network.coordinator.base)/v1/hls-key/movie\(query)")
                #expect(edge.status == status, "\(what): the edge answered \(edge.status) \(edge.text)")
                #expect(coordinator.status == status, "\(what): the coordinator answered \(coordinator.status) \(coordinator.text)")
                #expect(edge.body.count != 16 && !edge.text.isEmpty, "\(what): the edge says why")
            }

            // ffmpeg plays the title through the edge alone: playlist, key and segments.
            let play = try await run(
                "/usr/bin/ffmpeg", ["-v", "error", "-i", "\(paris.httpBase)/v/movie/source/index.m3u8?token=\(route.token)", "-f", "framecrc", "-"],
                mergeErrors: false)
            #expect(play.status == 0)
            #expect(play.output.split(separator: "\n").filter { $0.hasPrefix("0,") }.count == 240, "\(play.output.suffix(300))")

            // The key's bytes are nowhere under either edge's folder (cache, hosted titles, claims).
            let key = fromCoordinator.body
            for name in ["paris", "berlin"] {
                let folder = network.dir.path + "/cache-\(name)"
                let files = FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? []
                #expect(!files.isEmpty)
                for file in files {
                    guard let data = FileManager.default.contents(atPath: folder + "/" + file) else { continue }
                    #expect(data.range(of: key) == nil, "\(name)'s \(file) holds the title's key")
                }
            }
        }

        @Test("viewer endpoints answer CORS (preflights and errors too) and admin and node endpoints never do; a configured origin list is honoured")
        func corsOnViewerEndpointsOnly() async throws {
            let network = try await TestNetwork.hosting("viewer-cors", seconds: 4, places: [Self.places[0]])
            defer { network.stop() }
            let base = network.coordinator.base
            let route = try await network.viewerRoute()
            let origin = "Origin: https://watch.example"
            let preflight = ["Access-Control-Request-Method: GET", "Access-Control-Request-Headers: authorization", origin]
            for path in ["/v1/route?content=movie", "/v1/hls-key/movie", "/v1/keys/coordinator", "/v1/viewer-events", "/v1/steering/movie", "/watch/movie"] {
                let answer = try await Fetched.curl(base + path, method: "OPTIONS", headers: preflight)
                #expect(answer.status == 204, "OPTIONS \(path): \(answer.status)")
                #expect(answer.headers["access-control-allow-origin"] == "*", "OPTIONS \(path)")
                #expect(answer.headers["access-control-allow-headers"]?.contains("Authorization") == true)
            }
            for (method, path, status) in [
                ("GET", "/v1/route?content=movie&region=uk", 200), ("GET", "/v1/route?content=bad%20id", 400), ("GET", "/v1/hls-key/movie?token=\(route.token)", 200),
                ("GET", "/v1/hls-key/movie", 401), ("GET", "/v1/keys/coordinator", 200), ("GET", "/v1/steering/movie?token=\(route.token)", 200),
                ("GET", "/v1/steering/movie", 401), ("POST", "/v1/viewer-events", 400), ("GET", "/watch/movie", 200), ("GET", "/watch/nothing-here", 404),
            ] {
                let answer = try await Fetched.curl(base + path, method: method, headers: [origin], body: method == "POST" ? "{}" : nil)
                #expect(answer.status == status, "\(method) \(path): \(answer.status) \(answer.text.prefix(200))")
                #expect(answer.headers["access-control-allow-origin"] == "*", "\(method) \(path) carries no CORS")
            }
            let node = network.edges["paris"]!.id
            for (method, path) in [
                ("GET", "/healthz"), ("POST", "/v1/nodes"), ("POST", "/v1/heartbeat"), ("GET", "/v1/nodes/\(node)"), ("POST", "/v1/admin/ledger"),
                ("OPTIONS", "/v1/admin/ledger"), ("POST", "/v1/contents"), ("OPTIONS", "/v1/contents"), ("POST", "/v1/tasks"), ("POST", "/v1/claims"),
                ("POST", "/v1/leases"), ("GET", "/v1/epochs"), ("POST", "/v1/admin/revenue"), ("OPTIONS", "/v1/nodes"),
            ] {
                let answer = try await Fetched.curl(base + path, method: method, headers: [origin, "Access-Control-Request-Method: POST"], body: method == "POST" ? "{}" : nil)
                #expect(answer.headers["access-control-allow-origin"] == nil, "\(method) \(path) answered CORS")
                #expect(answer.status != 204, "\(method) \(path) answered a preflight")
            }

            // A coordinator with an origin list answers those origins only, and says it varies.
            let listed = try await CoordinatorProcess.start([
                "--db", "sqlite:\(network.dir.path)/listed.sqlite", "--identity", network.dir.path + "/listed.key", "--cors-origins",
                "https://app.example, https://watch.example:8443",
            ])
            defer { listed.stop() }
            let allowed = try await Fetched.curl(listed.base + "/v1/keys/coordinator", headers: ["Origin: https://watch.example:8443"])
            #expect(allowed.headers["access-control-allow-origin"] == "https://watch.example:8443")
            #expect(allowed.headers["vary"]?.contains("Origin") == true)
            let other = try await Fetched.curl(listed.base + "/v1/keys/coordinator", headers: ["Origin: https://evil.example"])
            #expect(other.status == 200 && other.headers["access-control-allow-origin"] == nil)
            let bad = try await run(depinBinary, ["coordinator", "--cors-origins", "https://app.example/path", "--http-listen", "127.0.0.1:0"])
            #expect(bad.status != 0 && bad.output.contains("--cors-origins"), "\(bad.output)")
        }

        @Test("route look-ups, keys and registrations are limited per client address: 429 with Retry-After and the reason; node endpoints are not")
        func rateLimits() async throws {
            let dir = TemporaryDirectory("rate-limits")
            defer { dir.remove() }
            let coordinator = try await CoordinatorProcess.start([
                "--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/c.key", "--rate-limit", "1", "--rate-burst", "3",
            ])
            defer { coordinator.stop() }
            for _ in 0..<3 { #expect(try await Fetched.curl("\(coordinator.base)/v1/route?content=movie&region=uk").status == 200) }
            let refused = try await Fetched.curl("\(coordinator.base)/v1/route?content=movie&region=uk", headers: ["Origin: https://watch.example"])
            #expect(refused.status == 429)
            #expect(Int(refused.headers["retry-after"] ?? "") ?? 0 >= 1)
            #expect(refused.text.contains("too many requests from 127.0.0.1") && refused.text.contains("at most 1 a second"), "\(refused.text)")
            #expect(refused.headers["access-control-allow-origin"] == "*", "a page can read why")
            #expect(try await Fetched.curl("\(coordinator.base)/v1/hls-key/movie").status == 429)
            #expect(try await Fetched.curl("\(coordinator.base)/v1/nodes", method: "POST", body: "{}").status == 429)
            for _ in 0..<10 {
                let heartbeat = try await Fetched.curl("\(coordinator.base)/v1/heartbeat", method: "POST", body: "{}")
                #expect(heartbeat.status != 429, "a node endpoint is not limited")
            }
            try await Task.sleep(for: .milliseconds(2100))
            #expect(try await Fetched.curl("\(coordinator.base)/v1/route?content=movie&region=uk").status == 200, "the bucket refills")
        }

        @Test("a player's failure report counts once, moves the edge last in its session's steering answer and, from enough sessions, in everyone's routes; steered master playlists follow the specification")
        func viewerEventsAndSteering() async throws {
            let network = try await TestNetwork.hosting("viewer-steering", seconds: 8, places: Self.places)
            defer { network.stop() }
            let base = network.coordinator.base
            let (paris, berlin) = (network.edges["paris"]!.id, network.edges["berlin"]!.id)
            let route = try await network.viewerRoute()
            #expect(route.edges.map(\.id) == [paris, berlin])

            // The steering manifest: version 1, a TTL, a reload URI that works, the route's order.
            let steering = try await Fetched.curl("\(base)/v1/steering/movie?token=\(route.token)&_HLS_pathway=\(paris)&_HLS_throughput=5000000")
            let manifest = try #require(try JSONSerialization.jsonObject(with: steering.body) as? [String: Any], "\(steering.text)")
            #expect(steering.headers["content-type"] == "application/json")
            #expect(manifest["VERSION"] as? Int == 1)
            #expect((manifest["TTL"] as? Int ?? 0) > 0)
            #expect(manifest["PATHWAY-PRIORITY"] as? [String] == [paris, berlin])
            let reload = try #require(manifest["RELOAD-URI"] as? String)
            let reloaded = try await Fetched.curl(try #require(URL(string: reload, relativeTo: URL(string: "\(base)/v1/steering/movie"))).absoluteString)
            #expect(reloaded.status == 200, "RELOAD-URI \(reload): \(reloaded.text)")

            // A steered master playlist from the Paris edge: every variant once per pathway.
            let master = try await Fetched.curl("\(network.edge("paris").httpsBase)/v/movie/master.m3u8?token=\(route.token)&steering=1", ca: network.certificate)
            try checkSteered(master.text, pathways: [paris, berlin], own: paris, token: route.token, coordinator: base, urls: Dictionary(uniqueKeysWithValues: route.edges.map { ($0.id, $0.url) }))
            for uri in master.text.split(separator: "\n").filter({ $0.hasPrefix("https://") }) {
                let variant = try await Fetched.curl(String(uri), ca: network.certificate)
                #expect(variant.status == 200 && variant.text.hasPrefix("#EXTM3U"), "\(uri): \(variant.status)")
            }
            let plain = try await Fetched.curl("\(network.edge("paris").httpsBase)/v/movie/master.m3u8?token=\(route.token)", ca: network.certificate)
            #expect(!plain.text.contains("PATHWAY-ID") && !plain.text.contains("CONTENT-STEERING"), "without steering=1 the master is as published")

            // The player reports Paris failing: counted once, Paris last for this session.
            let event = #"{"token":"\#(route.token)","edge":"\#(paris)","reason":"media error 2: network","position":3.5}"#
            let first = try await Fetched.curl("\(base)/v1/viewer-events", method: "POST", headers: ["Content-Type: application/json"], body: event)
            #expect(first.status == 202, "\(first.text)")
            #expect(first.text.contains("\"counted\":true"))
            let again = try await Fetched.curl("\(base)/v1/viewer-events", method: "POST", headers: ["Content-Type: application/json"], body: event)
            #expect(again.status == 202 && again.text.contains("\"counted\":false"))
            let after = try await Fetched.curl("\(base)/v1/steering/movie?token=\(route.token)")
            #expect((try JSONSerialization.jsonObject(with: after.body) as? [String: Any])?["PATHWAY-PRIORITY"] as? [String] == [berlin, paris])
            let steeredAfter = try await Fetched.curl("\(network.edge("berlin").httpsBase)/v/movie/master.m3u8?token=\(route.token)&steering=1", ca: network.certificate)
            try checkSteered(steeredAfter.text, pathways: [berlin, paris], own: berlin, token: route.token, coordinator: base, urls: Dictionary(uniqueKeysWithValues: route.edges.map { ($0.id, $0.url) }))
            let node = try await network.client.send(.GET, "/v1/nodes/\(paris)")
            let reports = try #require(node.json["viewerReports"] as? [String: Any], "\(node.text)")
            #expect(reports["total"] as? Int == 1 && reports["recent"] as? Int == 1)
            #expect(reports["lastReason"] as? String == "media error 2: network")

            // Bad reports are refused with the reason, and count nothing.
            for (body, status) in [
                (#"{"edge":"\#(paris)","reason":"x"}"#, 401), (#"{"token":"\#(route.token)","edge":"0123456789abcdef0123456789abcdef","reason":"x"}"#, 400),
                (#"{"token":"\#(route.token)","edge":"\#(paris)","reason":""}"#, 400), (#"{"token":"\#(route.token)","edge":"\#(paris)","reason":"x","extra":1}"#, 400),
                (#"{"token":"\#(route.token)","edge":"\#(paris)","reason":"x","kind":"liked"}"#, 400), ("not json", 400),
                (#"{"token":"\#(try await network.signedToken(content: "movie", age: 7200, lifetime: 3600))","edge":"\#(paris)","reason":"x"}"#, 401),
            ] {
                let refused = try await Fetched.curl("\(base)/v1/viewer-events", method: "POST", headers: ["Content-Type: application/json"], body: body)
                #expect(refused.status == status, "\(body): \(refused.status) \(refused.text)")
                #expect(refused.text.contains("\"error\""))
            }

            // Three sessions reporting Paris make it a suspect: new viewers get Berlin first.
            #expect(try await network.viewerRoute().edges.map(\.id) == [paris, berlin])
            for _ in 0..<2 {
                let other = try await network.viewerRoute()
                let body = #"{"token":"\#(other.token)","edge":"\#(paris)","reason":"no progress for 4 s"}"#
                #expect(try await Fetched.curl("\(base)/v1/viewer-events", method: "POST", headers: ["Content-Type: application/json"], body: body).status == 202)
            }
            #expect(try await network.viewerRoute().edges.map(\.id) == [berlin, paris])
        }

        /// Checks a steered master playlist against the HLS Content Steering rules.
        func checkSteered(_ text: String, pathways: [String], own: String, token: String, coordinator: String, urls: [String: String]) throws {
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines.first == "#EXTM3U")
            let steering = lines.filter { $0.hasPrefix("#EXT-X-CONTENT-STEERING:") }
            #expect(steering.count == 1, "one steering tag:\n\(text)")
            #expect(steering.first?.contains("SERVER-URI=\"\(coordinator)/v1/steering/movie?token=\(token)\"") == true)
            #expect(steering.first?.contains("PATHWAY-ID=\"\(own)\"") == true, "the edge that served it is the initial pathway")
            var variants: [String: [(attributes: String, uri: String)]] = [:]
            for (index, line) in lines.enumerated() where line.hasPrefix("#EXT-X-STREAM-INF:") {
                let id = try #require(line.firstMatch(of: /PATHWAY-ID="([A-Za-z0-9._-]+)"/)?.1, "every variant names a legal pathway: \(line)")
                let uri = lines[index + 1]
                #expect(uri.contains("token=\(token)"))
                let base = String(id) == own ? nil : urls[String(id)]
                if let base { #expect(uri.hasPrefix(base + "/v/movie/"), "\(uri) is on its pathway's edge") } else { #expect(!uri.contains("://")) }
                variants[String(id), default: []].append((line.replacing(/,PATHWAY-ID="[^"]*"/, with: ""), uri))
            }
            #expect(Set(variants.keys) == Set(pathways), "a variant set for every pathway of the session")
            let sets = variants.values.map { $0.map(\.attributes) }
            #expect(sets.allSatisfy { $0 == sets.first! } && !(sets.first?.isEmpty ?? true), "every pathway has the same variants")
            // Variant sets appear in the session's steering order.
            let order = lines.filter { $0.hasPrefix("#EXT-X-STREAM-INF:") }.compactMap { $0.firstMatch(of: /PATHWAY-ID="([A-Za-z0-9._-]+)"/).map { String($0.1) } }
            var seen: [String] = []
            for id in order where seen.last != id { seen.append(id) }
            #expect(seen == pathways, "\(seen)")
        }
    }
}
