import DePINProtocol
import Foundation
import NIOHTTP1
import TestSupport
import Testing

extension NetworkSuites {
    @Suite("proofs of retrievability with real processes")
    struct ProofTests {
        @Test("a host that deleted half of its hosted segments fails its challenges and is slashed; the honest host beside it passes every one")
        func deletedHalf() async throws {
            // (10 s to answer, the coordinator's default. A challenge issued between two of a
            // host's long polls used to wait for the next poll to end, 25 s, and go "offline";
            // the task board now ends that poll at once.)
            var network = try await TestNetwork.start(
                "proofs", coordinatorArguments: ["--challenge-interval", "1", "--challenge-deadline", "10", "--min-challenges", "4"])
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
            // The standing is read from the settled challenges; the ledger's slash follows it.
            // A challenge on the dropped segment goes unanswered for its 10 s, one on the kept
            // segment passes at once, so the score wanders towards 0.5 over a few dozen
            // challenges: 90 s once ended at 0.61 over 18 (suspended, not yet slashed).
            let slashed = try await network.waitUntil(seconds: 240) {
                let now = try await status(cheat)
                return (now["standing"] as? String)?.hasPrefix("slashed") == true
                    && ((now["stake"] as? [String: Any])?["slashed"] as? Int ?? 0) > 0
            }
            let cheatStatus = try await status(cheat)
            #expect(slashed, "\(cheatStatus)\n\(network.edges["cheat"]!.process.log.suffix(600))")
            #expect(cheatStatus["routed"] as? Bool == false)
            #expect(((cheatStatus["stake"] as? [String: Any])?["slashed"] as? Int ?? 0) > 0)
            #expect(!(try await network.routed("movie", lat: 52.5, lon: 13.4)).contains(cheat))
            let honestStatus = try await status(honest)
            #expect(honestStatus["reputation"] as? Double == 1 && honestStatus["standing"] == nil && honestStatus["routed"] as? Bool == true, "\(honestStatus)")

            // Every challenge on the dropped segment was caught; none of the honest host's failed.
            let rows = try await network.challengeOutcomes().map { [$0[0], $0[2], $0[3]] }
            let honestRows = rows.filter { $0[0] == honest }, cheatRows = rows.filter { $0[0] == cheat }
            #expect(!honestRows.isEmpty && honestRows.allSatisfy { $0[2] == "pass" }, "\(honestRows)")
            let onDropped = cheatRows.filter { $0[1] == "0" }
            #expect(!onDropped.isEmpty && onDropped.allSatisfy { $0[2] != "pass" }, "\(cheatRows)")
            // The kept segment's chunks are never judged wrong (an answer may be late on a busy machine).
            let onKept = cheatRows.filter { $0[1] == "1" }
            #expect(onKept.allSatisfy { $0[2] != "fail" }, "\(cheatRows)")
            print(
                "proofs: cheat \(onDropped.count) of \(onDropped.count) challenges on dropped data caught, \(onKept.filter { $0[2] == "pass" }.count) of \(onKept.count) on kept data passed; honest \(honestRows.count) of \(honestRows.count) passed")
        }
    }
}

extension NetworkSuites {
    @Suite("transcode audits with real processes")
    struct TranscodeAuditTests {
        /// A transcode worker a lazy miner might run: it reads the job and answers each rendition
        /// with filler instead of encoding it (the edge's protocol, garbage inside).
        static let lazyWorker = """
            #!/usr/bin/env python3
            import json, struct, sys
            stdin, out = sys.stdin.buffer, sys.stdout.buffer
            line = stdin.readline()
            if not line:
                sys.exit(0)
            job = json.loads(line)
            left = job["sourceBytes"]
            while left > 0:
                chunk = stdin.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
            sizes = []
            for index, _ in enumerate(job["renditions"]):
                payload = (bytes([0x47]) + bytes(187)) * 400
                out.write(bytes([index]) + struct.pack(">I", len(payload)) + payload)
                sizes.append(len(payload))
            outcome = json.dumps({"error": None, "inputProblem": False, "bytes": sizes}).encode()
            out.write(bytes([0xFF]) + struct.pack(">I", len(outcome)) + outcome)
            out.flush()

            """

        @Test("an edge that serves garbage renditions disagrees with two honest edges and is slashed; the honest edges are not, and are paid for their verified transcodes")
        func lazyTranscoder() async throws {
            var network = try await TestNetwork.start(
                "audits", coordinatorArguments: ["--challenge-interval", "1", "--transcode-sample", "1", "--epoch-seconds", "5"], trustEdges: true)
            defer { network.stop() }
            let worker = network.dir.path + "/lazy-worker"
            try Self.lazyWorker.write(toFile: worker, atomically: true, encoding: .utf8)
            chmod(worker, 0o755)
            let honest1 = try await network.addEdge("paris", "pc", lat: 48.86, lon: 2.35, extra: ["--transcode", "true"])
            let honest2 = try await network.addEdge("lyon", "pc", lat: 45.76, lon: 4.84, extra: ["--transcode", "true"])
            let lazy = try await network.addEdge("berlin", "pc", lat: 52.52, lon: 13.40, extra: ["--transcode", "true", "--transcode-worker", worker])
            #expect(try await network.waitUntil(seconds: 10) { Set(try await network.routed("movie", lat: 50, lon: 8)) == [honest1, honest2, lazy] })
            #expect(try await network.publishMovie(seconds: 4, width: 1280, height: 720).status == 0)
            // Viewers near each edge: every edge gets a delivery and a transcoding task.
            for (lat, lon) in [(48.86, 2.35), (45.76, 4.84), (52.52, 13.40)] { _ = try await network.routed("movie", lat: lat, lon: lon) }

            func slashed(_ id: String) async throws -> Int {
                ((try await network.client.send(.GET, "/v1/nodes/\(id)").json["stake"] as? [String: Any])?["slashed"] as? Int) ?? 0
            }
            let caught = try await network.waitUntil(seconds: 120) { try await slashed(lazy) > 0 }
            #expect(caught, "\(network.coordinator.log.suffix(1500))")
            #expect(try await slashed(honest1) == 0)
            #expect(try await slashed(honest2) == 0)
            #expect(!(try await network.routed("movie", lat: 52.5, lon: 13.4)).contains(lazy))

            // Epochs settle from the first with revenue on.
            let admin = [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")]
            let revenue = try await network.client.send(
                .POST, "/v1/admin/revenue", body: Data(#"{"source":"ads","amount":100000000000,"reason":"test"}"#.utf8), headers: admin)
            #expect(revenue.status == 201, "\(revenue.text)")
            // Every report was sampled (--transcode-sample 1): the honest edges' passed and
            // count in the epoch they passed in, with points; the lazy edge's garbage never does.
            var transcoded: [String: Int] = [:]
            for _ in 0..<300 where transcoded.isEmpty {
                try await Task.sleep(for: .milliseconds(200))
                for entry in try await network.client.send(.GET, "/v1/epochs").json["epochs"] as? [[String: Any]] ?? [] {
                    guard let epoch = entry["epoch"] as? Int else { continue }
                    let report = try await network.client.send(.GET, "/v1/epochs/\(epoch)").json
                    let scored = Set((report["payouts"] as? [[String: Any]] ?? []).filter { ($0["points"] as? Double ?? 0) > 0 }.compactMap { $0["miner"] as? String })
                    for inputs in report["inputs"] as? [[String: Any]] ?? [] {
                        if let miner = inputs["miner"] as? String, let bytes = inputs["transcodedBytes"] as? Int, bytes > 0, scored.contains(miner) {
                            transcoded[miner, default: 0] += bytes
                        }
                    }
                }
            }
            #expect(!transcoded.isEmpty && transcoded[lazy] == nil, "\(transcoded)\n\(network.coordinator.log.suffix(1500))")
            #expect(Set(transcoded.keys).isSubset(of: [honest1, honest2]))
            let audits = network.coordinator.log.split(separator: "\n").filter { $0.contains("transcode audit of") }
            print(
                "transcode audits: \(audits.count) run, the lazy edge slashed, honest edges slashed 0 times; verified transcoded bytes counted: \(transcoded.values.reduce(0, +)) (honest), 0 (lazy)"
            )
        }
    }
}
