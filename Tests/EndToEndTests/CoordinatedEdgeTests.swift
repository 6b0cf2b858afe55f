import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOHTTP1
import TestSupport
import Testing

@Suite("edges with a coordinator", .serialized)
struct CoordinatedEdgeTests {
    @Test("edges register and heartbeat; a viewer routed near Paris gets the nearest staked edge, and ffmpeg plays through it with the key from the coordinator")
    func playThroughRoutedEdge() async throws {
        let dir = TemporaryDirectory("coordinated")
        defer { dir.remove() }
        let coordinator = try await CoordinatorProcess.start(["--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/c.key"])
        defer { coordinator.stop() }
        let client = CoordinatorClient(base: coordinator.base)
        var environment = ProcessInfo.processInfo.environment
        environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] = CoordinatorProcess.adminToken
        try await TestClip.make(dir.path + "/in.mp4", seconds: 8, keyint: 30)
        let published = try await run(
            depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "movie", "--coordinator", coordinator.base],
            environment: environment)
        #expect(published.status == 0, "\(published.output)")

        // Three edges: a pc in Paris and a server in Berlin, both staked; a pc in Paris that is not.
        var edges: [(id: String, process: EdgeProcess)] = []
        defer { edges.forEach { $0.process.stop() } }
        for (name, deviceClass, lat, lon, staked) in [
            ("paris", "pc", 48.86, 2.35, true), ("berlin", "server", 52.52, 13.40, true), ("unstaked", "pc", 48.85, 2.34, false),
        ] {
            let keyFile = dir.path + "/\(name).key"
            let made = try await run(depinBinary, ["keys", "generate", "--out", keyFile], mergeErrors: false)
            let id = made.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if staked {
                let amount: Int64 = deviceClass == "server" ? 10_000_000 : 1_000_000
                #expect(try await client.admin(id, "deposit", amount) == 200)
                #expect(try await client.admin(id, "bond", amount) == 200)
            }
            let edge = try await EdgeProcess.start(arguments: [
                "--cache-dir", dir.path + "/cache-\(name)", "--upstream", "file://\(dir.path)/out", "--coordinator", coordinator.base,
                "--identity", keyFile, "--class", deviceClass, "--lat", String(lat), "--lon", String(lon), "--cores", "8", "--ram", "16",
                "--gpu", "true", "--ssd", "true",
            ])
            edges.append((id, edge))
        }
        // Wait until both staked edges are routed.
        var routed: [String] = []
        for _ in 0..<100 where routed.count < 2 {
            try await Task.sleep(for: .milliseconds(100))
            let answer = try await client.send(.GET, "/v1/route?content=movie&lat=48.80&lon=2.30")
            routed = (answer.json["edges"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        #expect(routed == [edges[0].id, edges[1].id], "routes: \(routed)\n\(edges[2].process.log.suffix(500))")
        #expect(edges[2].process.log.contains("DHB bonded"), "the unstaked edge should say why it was refused")

        let route = try await client.send(.GET, "/v1/route?content=movie&lat=48.80&lon=2.30")
        let token = try #require(route.json["token"] as? String)
        let paris = edges[0].process

        // Without a token, or with another title's: refused.
        let none = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(paris.httpBase)/v/movie/source/0.ts"], mergeErrors: false)
        #expect(none.output == "401")
        let otherToken = try #require(try await client.send(.GET, "/v1/route?content=other&region=uk").json["token"] as? String)
        let wrong = try await run(
            "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(paris.httpBase)/v/movie/source/0.ts?token=\(otherToken)"], mergeErrors: false)
        #expect(wrong.output == "403")

        // The playlist carries the token everywhere, the key URI pointing at the edge's own key endpoint.
        let playlist = try await run("/usr/bin/curl", ["-s", "\(paris.httpBase)/v/movie/source/index.m3u8?token=\(token)"], mergeErrors: false)
        #expect(playlist.output.contains("URI=\"/v/movie/key?token=\(token)\""), "\(playlist.output)")
        #expect(playlist.output.contains("0.ts?token=\(token)"))

        // ffmpeg plays it: segments and the key from the edge (relayed from the coordinator), every frame.
        let play = try await run(
            "/usr/bin/ffmpeg", ["-v", "error", "-i", "\(paris.httpBase)/v/movie/source/index.m3u8?token=\(token)", "-f", "framecrc", "-"],
            mergeErrors: false)
        #expect(play.status == 0)
        #expect(play.output.split(separator: "\n").filter { $0.hasPrefix("0,") }.count == 240, "\(play.output.suffix(300))")
    }
}
