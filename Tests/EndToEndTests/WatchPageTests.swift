import Foundation
import NIOHTTP1
import TestSupport
import Testing

extension NetworkSuites {
    @Suite("the watch page in headless Chromium")
    struct WatchPageTests {
        @Test("the watch page plays through the nearest edge in Chromium, and after that edge is killed resumes from the other one; the coordinator records it")
        func playsAndSurvivesAnEdgeDying() async throws {
            let places = [(name: "paris", lat: 48.86, lon: 2.35), (name: "berlin", lat: 52.52, lon: 13.40)]
            let network = try await TestNetwork.hosting("watch-page", seconds: 30, places: places)
            defer { network.stop() }
            let page = "\(network.coordinator.base)/watch/movie?lat=\(TestNetwork.viewer.lat)&lon=\(TestNetwork.viewer.lon)"
            let kills = places.map { "--kill=\(network.edge($0.name).httpsBase)=\(network.edge($0.name).process.processIdentifier)" }
            let driven = try await run(
                "/usr/bin/python3", [repositoryRoot.path + "/scripts/watch-in-chromium", page, "--seconds", "6", "--after", "4", "--timeout", "60"] + kills,
                mergeErrors: false)
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(driven.output.split(separator: "\n").last.map { Data($0.utf8) } ?? Data())) as? [String: Any],
                "the driver printed no report: \(driven.output)")
            print("watch page report: \(driven.output)")
            #expect(driven.status == 0 && report["ok"] as? Bool == true, "\(driven.output)")
            let before = try #require(report["before"] as? [String: Any])
            #expect((before["time"] as? Double ?? 0) >= 6)
            #expect(before["width"] as? Int == 640 && before["height"] as? Int == 360, "the source's size")
            #expect(before["error"] as? Int == 0 && before["state"] as? String == "playing")
            let paris = network.edge("paris").httpsBase
            #expect(before["edge"] as? String == paris, "the nearest edge plays first")
            let killed = try #require(report["killed"] as? [String: Any])
            let after = try #require(report["after"] as? [String: Any])
            #expect(after["edge"] as? String == network.edge("berlin").httpsBase)
            #expect((after["time"] as? Double ?? 0) >= (killed["position"] as? Double ?? 99) + 4)
            #expect(after["width"] as? Int == 640 && after["state"] as? String == "playing")
            let consoleErrors = report["console"] as? [String] ?? []
            #expect(consoleErrors.allSatisfy { $0.contains(paris) }, "the page's only errors are the dead edge's refused requests: \(consoleErrors)")

            // The coordinator counted the report against Paris, and Paris is last for that session.
            let parisID = network.edges["paris"]!.id
            let node = try await network.client.send(.GET, "/v1/nodes/\(parisID)")
            let reports = try #require(node.json["viewerReports"] as? [String: Any], "\(node.text)")
            #expect((reports["total"] as? Int ?? 0) >= 1, "\(node.text)")
            let session = try #require(after["session"] as? String)
            let token = try await network.signedToken(content: "movie", session: session, age: 0, lifetime: 600)
            let steering = try await network.client.send(.GET, "/v1/steering/movie?token=\(token)")
            #expect((steering.json["PATHWAY-PRIORITY"] as? [String])?.last == parisID, "\(steering.text)")

            // A browser whose player has no HLS of its own gets a sentence, not a blank box.
            let unable = try await run("/usr/bin/python3", [repositoryRoot.path + "/scripts/watch-in-chromium", page, "--no-native-hls"], mergeErrors: false)
            #expect(unable.status == 0, "\(unable.output)")
            #expect(unable.output.contains("has no HLS player of its own"), "\(unable.output)")
        }
    }
}
