import DePINProtocol
import Foundation
import NIOHTTP1
import TestSupport
import Testing

@Suite("proofs of retrievability with real processes", .serialized)
struct ProofTests {
    @Test("a host that deleted half of its hosted segments fails its challenges and is slashed; the honest host beside it passes every one")
    func deletedHalf() async throws {
        var network = try await TestNetwork.start(
            "proofs", coordinatorArguments: ["--challenge-interval", "1", "--challenge-deadline", "2", "--min-challenges", "4"])
        defer { network.stop() }
        let honest = try await network.addEdge("honest", "server", lat: 48.86, lon: 2.35)
        let cheat = try await network.addEdge("cheat", "server", lat: 52.52, lon: 13.40)
        #expect(try await network.waitUntil(seconds: 10) { Set(try await network.routed("movie", lat: 50, lon: 8)) == [honest, cheat] })
        let published = try await network.publishMovie()
        #expect(published.status == 0, "\(published.output)")
        // The cheat drops segment 0 of the two (and its chunk hashes) but keeps hosting.
        let dropped = network.dir.path + "/cache-cheat/hosted/movie/source/0.ts"
        #expect(FileManager.default.fileExists(atPath: dropped))
        try FileManager.default.removeItem(atPath: dropped)
        try FileManager.default.removeItem(atPath: dropped + ".leaves")

        func status(_ id: String) async throws -> [String: Any] { try await network.client.send(.GET, "/v1/nodes/\(id)").json }
        let slashed = try await network.waitUntil(seconds: 90) { (try await status(cheat)["standing"] as? String)?.hasPrefix("slashed") == true }
        let cheatStatus = try await status(cheat)
        #expect(slashed, "\(cheatStatus)\n\(network.edges["cheat"]!.process.log.suffix(600))")
        #expect(cheatStatus["routed"] as? Bool == false)
        #expect(((cheatStatus["stake"] as? [String: Any])?["slashed"] as? Int ?? 0) > 0)
        #expect(!(try await network.routed("movie", lat: 52.5, lon: 13.4)).contains(cheat))
        let honestStatus = try await status(honest)
        #expect(honestStatus["reputation"] as? Double == 1 && honestStatus["standing"] == nil && honestStatus["routed"] as? Bool == true, "\(honestStatus)")

        // Every challenge on the dropped segment was caught; none of the honest host's failed.
        let outcomes = try await run(
            "/usr/bin/python3",
            ["-c", "import sqlite3,sys; [print(*r) for r in sqlite3.connect(sys.argv[1]).execute('SELECT node_id, segment, outcome FROM challenges WHERE outcome IS NOT NULL')]",
             network.dir.path + "/c.sqlite"],
            mergeErrors: false)
        let rows = outcomes.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let honestRows = rows.filter { $0[0] == honest }, cheatRows = rows.filter { $0[0] == cheat }
        #expect(!honestRows.isEmpty && honestRows.allSatisfy { $0[2] == "pass" }, "\(honestRows)")
        let onDropped = cheatRows.filter { $0[1] == "0" }
        #expect(!onDropped.isEmpty && onDropped.allSatisfy { $0[2] != "pass" }, "\(cheatRows)")
        #expect(cheatRows.filter { $0[1] == "1" }.allSatisfy { $0[2] == "pass" })
        print("proofs: cheat \(onDropped.count) of \(onDropped.count) challenges on dropped data caught, \(cheatRows.count - onDropped.count) on kept data passed; honest \(honestRows.count) passed, 0 false positives")
    }
}
