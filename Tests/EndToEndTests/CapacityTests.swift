import DePINProtocol
import Foundation
import NIOHTTP1
import TestSupport
import Testing

extension NetworkSuites {
    @Suite("capacity probes with real processes")
    struct CapacityTests {
        @Test("an edge that claims 32 cores is measured at what this machine has and paid for that; the honest edge beside it keeps its claim")
        func overclaimedCores() async throws {
            // One reference core = a third of one thread of this machine (as built for the
            // tests), so the idle machine measures 4 to 7 reference cores: enough for an honest
            // 4-core claim (half of it, 2, is the tolerance) even while other tests load it,
            // far from a 32-core one (16). The best of three measures counts: one taken while the
            // whole suite starts measured a third of this machine's rate (the cheat then scored
            // 14.9 cores), so the margin to the cheat's claim is wide.
            let rate = Int((0..<3).map { _ in WorkProbe.measureRate(seconds: 0.3) }.max()! / 3)
            var network = try await TestNetwork.start(
                "capacity",
                coordinatorArguments: [
                    "--probe-interval", "3", "--probe-seconds", "0.5", "--core-hash-rate", String(rate), "--probe-concurrency", "1", "--epoch-seconds", "6",
                ])
            defer { network.stop() }
            let honest = try await network.addEdge("honest", "pc", lat: 48.86, lon: 2.35, cores: 4, extra: ["--claim-interval", "1"])
            let cheat = try await network.addEdge("cheat", "pc", lat: 52.52, lon: 13.40, cores: 32, extra: ["--claim-interval", "1"])
            #expect(try await network.waitUntil(seconds: 10) { Set(try await network.routed("movie", lat: 50, lon: 8)) == [honest, cheat] })
            #expect(try await network.publishMovie(seconds: 4).status == 0)

            func status(_ id: String) async throws -> [String: Any] { try await network.client.send(.GET, "/v1/nodes/\(id)").json }
            // Probes repeat every 3 s and the best counts: a probe slowed by other work on this
            // machine is made up by the next.
            let measured = try await network.waitUntil(seconds: 90) {
                let first = try await status(honest), second = try await status(cheat)
                return (first["coresMeasured"] as? Double ?? 0) >= 2 && second["coresMeasured"] != nil
            }
            #expect(measured, "\(network.coordinator.log.suffix(1500))")
            let honestStatus = try await status(honest), cheatStatus = try await status(cheat)
            let honestCores = honestStatus["coresMeasured"] as? Double ?? 0, cheatCores = cheatStatus["coresMeasured"] as? Double ?? 0
            #expect(honestCores >= 2 && honestStatus["capacity"] == nil, "\(honestStatus)")
            #expect(cheatCores < 16 && (cheatStatus["capacity"] as? String)?.hasPrefix("warned: claims 32 cores") == true, "\(cheatStatus)")

            // Both deliver a segment in a paid epoch: the honest edge is credited its claim, the
            // cheat what it showed.
            let admin = [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")]
            let revenue = try await network.client.send(
                .POST, "/v1/admin/revenue", body: Data(#"{"source":"ads","amount":100000000000,"reason":"test"}"#.utf8), headers: admin)
            #expect(revenue.status == 201, "\(revenue.text)")
            for (name, lat, lon) in [("honest", 48.86, 2.35), ("cheat", 52.52, 13.40)] {
                let token = try #require(try await network.client.send(.GET, "/v1/route?content=movie&lat=\(lat)&lon=\(lon)").json["token"] as? String)
                let fetched = try await run(
                    "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(network.edges[name]!.process.httpBase)/v/movie/source/0.ts?token=\(token)"],
                    mergeErrors: false)
                #expect(fetched.output == "200")
            }
            // Each earns points in an epoch (not necessarily the same one, nor one with a pool left:
            // claims land when they land).
            var paid: [String: [String: Any]] = [:]
            for _ in 0..<600 where paid.count < 2 {
                try await Task.sleep(for: .milliseconds(100))
                let list = try await network.client.send(.GET, "/v1/epochs").json["epochs"] as? [[String: Any]] ?? []
                for entry in list {
                    guard let epoch = entry["epoch"] as? Int else { continue }
                    let full = try await network.client.send(.GET, "/v1/epochs/\(epoch)").json
                    let payees = Set((full["payouts"] as? [[String: Any]] ?? []).filter { ($0["points"] as? Double ?? 0) > 0 }.compactMap { $0["miner"] as? String })
                    for inputs in full["inputs"] as? [[String: Any]] ?? [] {
                        if let miner = inputs["miner"] as? String, payees.contains(miner), paid[miner] == nil { paid[miner] = inputs }
                    }
                }
            }
            #expect(paid[honest]?["coresCredited"] as? Double == 4, "\(paid[honest] ?? [:])")
            let credited = paid[cheat]?["coresCredited"] as? Double ?? 99
            #expect(credited < 16 && credited == paid[cheat]?["coresMeasured"] as? Double, "\(paid[cheat] ?? [:])")
            print(
                "capacity: the cheat claimed 32 cores, measured \(String(format: "%.1f", cheatCores)), credited \(String(format: "%.1f", credited)); the honest edge claimed 4, measured \(String(format: "%.1f", honestCores)), credited 4"
            )
        }
    }
}
