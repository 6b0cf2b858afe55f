import Foundation
import NIOHTTP1
import TestSupport
import Testing

extension NetworkSuites {
    @Suite("the dashboard and an edge's status page in headless Chromium")
    struct DashboardTests {
        /// Where the screenshots go (kept after the test, for a person to look at).
        static let shots = repositoryRoot.appendingPathComponent(".build/dashboard-shots").path

        @Test("after an epoch settles, the dashboard's pages load without a console error, refresh in place, show one marker per edge, explain a payout exactly as depin rewards explain does, show a slash's reason; unknown pages are 404 pages; the edge's /status links to its page")
        func dashboardInChromium() async throws {
            var network = try await TestNetwork.start("dashboard", coordinatorArguments: ["--epoch-seconds", "4", "--transcode-sample", "1"], trustEdges: true)
            defer { network.stop() }
            let paris = try await network.addEdge("paris", "pc", lat: 48.86, lon: 2.35, extra: ["--claim-interval", "1", "--transcode", "true"])
            let berlin = try await network.addEdge("berlin", "server", lat: 52.52, lon: 13.40)
            let rogue = try await network.addEdge("rogue", "mobile", lat: -33.87, lon: 151.21)
            // The rogue host is slashed, with a reason, once registered and before anything is published.
            #expect(try await network.waitUntil(seconds: 10) { try await network.client.send(.GET, "/v1/nodes/\(rogue)").status == 200 })
            let slash = try JSONSerialization.data(withJSONObject: [
                "node": rogue, "kind": "slash", "amount": 5_000_000_000_000, "reason": "dashboard test: served bytes its Merkle root does not prove",
            ])
            let admin = [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")]
            let slashed = try await network.client.send(.POST, "/v1/admin/ledger", body: slash, headers: admin)
            #expect(slashed.status == 200, "\(slashed.text)")
            #expect(try await network.waitUntil(seconds: 10) { Set(try await network.routed("movie", lat: 50, lon: 8)) == [paris, berlin] })
            #expect(try await network.publishMovie(seconds: 4, width: 854, height: 480).status == 0)
            let revenue = try await network.client.send(
                .POST, "/v1/admin/revenue", body: Data(#"{"source":"subscriptions","amount":100000000000,"reason":"test month"}"#.utf8), headers: admin)
            #expect(revenue.status == 201, "\(revenue.text)")
            // A viewer in Paris: the source segment and a 360p one Paris makes itself.
            let token = try #require(try await network.client.send(.GET, "/v1/route?content=movie&lat=48.86&lon=2.35").json["token"] as? String)
            for path in ["source/0.ts", "360p/0.ts"] {
                let fetched = try await run(
                    "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(network.edges["paris"]!.process.httpBase)/v/movie/\(path)?token=\(token)"],
                    mergeErrors: false)
                #expect(fetched.output == "200", "\(path)")
            }
            var epoch: Int?
            for _ in 0..<400 where epoch == nil {
                try await Task.sleep(for: .milliseconds(100))
                let list = try await network.client.send(.GET, "/v1/epochs").json["epochs"] as? [[String: Any]] ?? []
                epoch = list.first { ($0["paid"] as? Int ?? 0) > 0 }?["epoch"] as? Int
            }
            let paid = try #require(epoch, "no epoch paid anyone")
            let explained = try await run(depinBinary, ["rewards", "explain", "--coordinator", network.coordinator.base, "--epoch", String(paid), "--miner", paris])
            #expect(explained.status == 0, "\(explained.output)")

            let base = network.coordinator.base
            let status = network.edges["paris"]!.process.httpBase + "/status"
            try? FileManager.default.removeItem(atPath: Self.shots)
            let driven = try await run(
                "/usr/bin/python3",
                [
                    repositoryRoot.path + "/scripts/dashboard-in-chromium", "--shots", Self.shots, "network=\(base)/dashboard",
                    "node=\(base)/dashboard/nodes/\(paris)", "slashed=\(base)/dashboard/nodes/\(rogue)", "title=\(base)/dashboard/titles/movie", "status=\(status)",
                ], mergeErrors: false)
            print("dashboard screenshots: \(Self.shots)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data((driven.output.split(separator: "\n").last ?? "").utf8)) as? [String: Any],
                "the driver printed no report: \(driven.output)")
            #expect(driven.status == 0 && report["ok"] as? Bool == true, "\(driven.output)")
            // Every text and number is bound first, then checked: with Swift Testing 6.3.1,
            // `#expect((a?[k] as? String ?? "").contains(x))` passes whatever the text is.
            let pages = report["pages"] as? [String: [String: Any]] ?? [:]
            for name in ["network", "node", "slashed", "title", "status"] {
                let page = try #require(pages[name], "no report for \(name)")
                let console = page["console"] as? [String] ?? ["no console report"]
                #expect(console.isEmpty, "\(name): \(console)")
                let refreshes = page["refreshes"] as? Int ?? 0, sameDocument = page["sameDocument"] as? Bool ?? false
                #expect(refreshes >= 2 && sameDocument, "\(name) refreshes in place: \(page)")
                let shot = page["screenshot"] as? String ?? "/nonexistent"
                #expect(FileManager.default.fileExists(atPath: shot), "\(name)")
                // Times are the viewer's (the browser is in Tokyo), never left in UTC.
                let shown = (page["times"] as? [[String: Any]] ?? []).map { $0["shown"] as? String ?? "UTC" }
                #expect(!shown.isEmpty && shown.allSatisfy { !$0.contains("UTC") && $0.contains("GMT+9") }, "\(name): \(shown)")
            }
            // One marker per edge; the slashed one is not routable.
            let markers = pages["network"]?["markers"] as? [[String: Any]] ?? []
            var routedOnMap: [String: Bool] = [:]
            for marker in markers { routedOnMap[marker["node"] as? String ?? "?"] = marker["routed"] as? Bool }
            #expect(markers.count == 3 && routedOnMap == [paris: true, berlin: true, rogue: false], "\(markers)")
            let totals = pages["network"]?["totals"] as? [String: String] ?? [:]
            #expect(totals["Edges routable"] == "2 of 3 edges" && totals["Titles hosted"] == "1 of 1 title", "\(totals)")
            // The payout, term by term, as depin rewards explain prints it.
            let payouts = pages["node"]?["payouts"] as? [[String: Any]] ?? []
            let shown = try #require(payouts.first { $0["epoch"] as? Int == paid }, "no payout for epoch \(paid) on the page: \(payouts)")
            let explanation = shown["text"] as? String ?? ""
            let cli = explained.output.trimmingCharacters(in: .newlines)
            #expect(explanation == cli, "page:\n\(explanation)\nCLI:\n\(cli)")
            #expect(explanation.hasSuffix("valid; root signed by the coordinator: yes") && cli.split(separator: "\n").count == 10, "\(cli)")
            // The slash and its reason; a host that is slashed may not host.
            let warnings = pages["slashed"]?["warnings"] as? [String] ?? []
            #expect(warnings.contains { $0.hasSuffix("served bytes its Merkle root does not prove") }, "\(warnings)")
            let allowed = pages["slashed"]?["allowed"] as? [String] ?? []
            #expect(allowed == ["hosting: not given: slashed"], "\(pages["slashed"] ?? [:])")
            let heading = pages["title"]?["heading"] as? String ?? ""
            #expect(heading == "Title movie", "\(heading)")
            let link = pages["status"]?["dashboardLink"] as? String ?? ""
            #expect(link == "\(base)/dashboard/nodes/\(paris)", "\(link)")
            let edgeRouting = pages["status"]?["routing"] as? String ?? ""
            #expect(edgeRouting.hasPrefix("routed to viewers"), "\(pages["status"] ?? [:])")

            // The JSON has the same figures: the rendition Paris made, its payout's lines, and
            // one count of bytes delivered on every page (only Paris delivered).
            let node = try await network.client.send(.GET, "/v1/dashboard/nodes/\(paris)")
            #expect(node.status == 200, "\(node.text.prefix(500))")
            let entry = (node.json["payouts"] as? [[String: Any]])?.first { $0["epoch"] as? Int == paid }
            let lines = entry?["lines"] as? [String] ?? []
            #expect(lines.joined(separator: "\n") == explanation)
            let nodeBytes = (node.json["traffic"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) }
            let networkJSON = try await network.client.send(.GET, "/v1/dashboard").json
            let networkBytes = (networkJSON["totals"] as? [String: Any])?["deliveredBytes24h"] as? Int ?? -1
            let title = try await network.client.send(.GET, "/v1/dashboard/titles/movie")
            let titleBytes = (title.json["demand"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) }
            #expect(nodeBytes > 0 && nodeBytes == networkBytes && nodeBytes == titleBytes, "\(nodeBytes) \(networkBytes) \(titleBytes)")
            let made = title.json["renditions"] as? [[String: Any]] ?? []
            let madeHere = made.filter { $0["rendition"] as? String == "360p" && $0["node"] as? String == paris }.count
            #expect(madeHere == 1, "\(title.text)")

            // Unknown pages are 404 pages; nothing under /dashboard takes a write.
            for path in ["/dashboard/nodes/nobody", "/dashboard/titles/nothing", "/dashboard/elsewhere"] {
                let answer = try await network.client.send(.GET, path)
                #expect(answer.status == 404 && answer.text.contains("<h1>No such") && answer.text.contains("</html>"), "\(path): \(answer.text.prefix(300))")
            }
            for method in [HTTPMethod.POST, .PUT, .DELETE] {
                let answer = try await network.client.send(method, "/dashboard/nodes/\(paris)", body: Data("{}".utf8), headers: admin)
                #expect(answer.status == 405 && answer.text.contains("Read-only"), "\(method): \(answer.status) \(answer.text.prefix(200))")
            }
            // The status page is on the plaintext listener only.
            let overTLS = try await run(
                "/usr/bin/curl", ["-s", "--cacert", network.certificate, "-w", " %{http_code}", network.edges["paris"]!.process.httpsBase + "/status"], mergeErrors: false)
            #expect(overTLS.output.hasSuffix(" 404") && overTLS.output.contains("plaintext HTTP listener"), "\(overTLS.output)")
        }
    }
}
