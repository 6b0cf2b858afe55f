import DePINProtocol
import Foundation
import NIOHTTP1
import TestSupport
import Testing

extension NetworkSuites {
    @Suite("delivery receipts with real processes")
    struct ReceiptTests {
        /// The receipts an edge holds, by claim id.
        static func receipts(_ path: String) -> [String: DeliveryReceipt] {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            var out: [String: DeliveryReceipt] = [:]
            for line in text.split(separator: "\n") {
                guard let receipt = try? JSONDecoder().decode(DeliveryReceipt.self, from: Data(line.utf8)) else { continue }
                #expect(out[receipt.claim] == nil, "claim \(receipt.claim) was receipted twice")
                out[receipt.claim] = receipt
            }
            return out
        }

        @Test("a viewer's bytes come back as receipts that verify offline; claims made while the coordinator is dead (kill -9) are kept and receipted once after it restarts")
        func receiptsSurviveACrash() async throws {
            var network = try await TestNetwork.start("receipts")
            defer { network.stop() }
            let edgeID = try await network.addEdge("paris", "server", lat: 48.86, lon: 2.35, extra: ["--claim-interval", "1"])
            #expect(try await network.waitUntil(seconds: 10) { try await network.routed("movie", lat: 48, lon: 2) == [edgeID] })
            let published = try await network.publishMovie()
            #expect(published.status == 0, "\(published.output)")
            let edge = network.edges["paris"]!.process
            let token = try #require(try await network.client.send(.GET, "/v1/route?content=movie&lat=48&lon=2").json["token"] as? String)

            func fetch(_ path: String) async throws -> Int64 {
                let result = try await run(
                    "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "\(edge.httpBase)/v/movie/\(path)?token=\(token)"],
                    mergeErrors: false)
                let parts = result.output.split(separator: " ")
                #expect(parts.first == "200", "\(path): \(result.output)")
                return Int64(parts.last ?? "0") ?? 0
            }
            var delivered: Int64 = 0
            for path in ["master.m3u8", "source/index.m3u8", "source/0.ts", "source/1.ts"] { delivered += try await fetch(path) }
            let receiptsFile = network.dir.path + "/cache-paris/claims/receipts.jsonl"
            func receiptedBytes() -> Int64 { Self.receipts(receiptsFile).values.reduce(0) { $0 + $1.bytes } }
            #expect(try await network.waitUntil(seconds: 15) { receiptedBytes() == delivered }, "receipted \(receiptedBytes()) of \(delivered)\n\(edge.log.suffix(600))")

            // Checked offline with the coordinator's public key.
            let verified = try await run(depinBinary, ["receipts", "verify", receiptsFile, "--coordinator", network.coordinator.base])
            #expect(verified.status == 0 && verified.output.contains("verify (\(delivered) bytes delivered)"), "\(verified.output)")
            // A receipt with its bytes raised no longer verifies.
            var forged = Self.receipts(receiptsFile).values.first!
            forged.bytes += 1_000_000
            try (forged.json + "\n").write(toFile: network.dir.path + "/forged.jsonl", atomically: true, encoding: .utf8)
            let refused = try await run(depinBinary, ["receipts", "verify", network.dir.path + "/forged.jsonl", "--coordinator", network.coordinator.base])
            #expect(refused.status == 1 && refused.output.contains("does not verify"), "\(refused.output)")

            // The coordinator dies (kill -9). The edge serves on (the token is known) and keeps
            // its claims.
            let port = network.coordinator.port
            kill(network.coordinator.process.processIdentifier, SIGKILL)
            network.coordinator.process.waitUntilExit()
            for path in ["source/0.ts", "source/1.ts"] { delivered += try await fetch(path) }
            let pendingFile = network.dir.path + "/cache-paris/claims/pending.json"
            #expect(try await network.waitUntil(seconds: 10) {
                (try? JSONDecoder().decode([DeliveryClaim].self, from: Data(contentsOf: URL(fileURLWithPath: pendingFile))).isEmpty == false) ?? false
            }, "\(edge.log.suffix(600))")

            // Restarted on the same port, database and key: the kept claims are receipted, once.
            let restarted = try await CoordinatorProcess.start([
                "--http-listen", "127.0.0.1:\(port)", "--db", "sqlite:\(network.dir.path)/c.sqlite", "--identity", network.dir.path + "/c.key",
            ])
            defer { restarted.stop() }
            #expect(try await network.waitUntil(seconds: 20) { receiptedBytes() == delivered }, "receipted \(receiptedBytes()) of \(delivered)\n\(edge.log.suffix(800))")
            #expect(try await network.waitUntil(seconds: 5) {
                (try? JSONDecoder().decode([DeliveryClaim].self, from: Data(contentsOf: URL(fileURLWithPath: pendingFile))).isEmpty) ?? false
            })
            // Every receipt the edge holds is in the coordinator's database, and nothing else is.
            // Claims are kept as lines of their receipt batch (id node content session bytes ...).
            let script = """
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1])
                for (text,) in db.execute('SELECT b.claims FROM claim_nodes n JOIN receipt_batches b ON b.id = n.batch_id WHERE n.node_id = ?', (sys.argv[2],)):
                    for line in text.splitlines():
                        fields = line.split(' ')
                        if fields[1] == sys.argv[2]: print(fields[0], fields[4])
                for i, b in db.execute('SELECT id, bytes FROM claims WHERE node_id = ?', (sys.argv[2],)): print(i, b)
                """
            let query = try await run("/usr/bin/python3", ["-c", script, network.dir.path + "/c.sqlite", edgeID], mergeErrors: false)
            let stored = query.output.split(separator: "\n").map { $0.split(separator: " ") }
            let held = Self.receipts(receiptsFile)
            #expect(Set(stored.map { String($0[0]) }) == Set(held.keys), "\(query.output)")
            #expect(stored.reduce(Int64(0)) { $0 + (Int64($1[1]) ?? 0) } == delivered)
        }
    }
}

extension NetworkSuites {
    @Suite("epoch settlement with real processes")
    struct RewardTests {
        @Test("revenue feeds the pool; when the epoch ends the edge that delivered is paid from it, and its payout is explained and proved")
        func settle() async throws {
            var network = try await TestNetwork.start("rewards", coordinatorArguments: ["--epoch-seconds", "4"])
            defer { network.stop() }
            let edgeID = try await network.addEdge("paris", "server", lat: 48.86, lon: 2.35, extra: ["--claim-interval", "1"])
            #expect(try await network.waitUntil(seconds: 10) { try await network.routed("movie", lat: 48, lon: 2) == [edgeID] })
            #expect(try await network.publishMovie(seconds: 4).status == 0)
            // 1,000 DHB of subscriptions: the pool gets 30% (--app-share 0.3).
            let admin = [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")]
            let revenue = try await network.client.send(
                .POST, "/v1/admin/revenue", body: Data(#"{"source":"subscriptions","amount":100000000000,"reason":"test month"}"#.utf8), headers: admin)
            #expect(revenue.status == 201, "\(revenue.text)")
            #expect(try await network.client.send(.POST, "/v1/admin/revenue", body: Data(#"{"source":"gifts","amount":1,"reason":"x"}"#.utf8), headers: admin).status == 400)
            #expect(try await network.client.send(.POST, "/v1/admin/revenue", body: Data(#"{"source":"ads","amount":1,"reason":"x"}"#.utf8)).status == 401)
            let token = try #require(try await network.client.send(.GET, "/v1/route?content=movie&lat=48&lon=2").json["token"] as? String)
            let fetched = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(network.edges["paris"]!.process.httpBase)/v/movie/source/0.ts?token=\(token)"], mergeErrors: false)
            #expect(fetched.output == "200")

            // Wait for an epoch that pays the edge (revenue is carried until an epoch has work to pay).
            var paidEpoch: Int?
            for _ in 0..<400 where paidEpoch == nil {
                try await Task.sleep(for: .milliseconds(100))
                let list = try await network.client.send(.GET, "/v1/epochs").json["epochs"] as? [[String: Any]] ?? []
                paidEpoch = list.first { ($0["paid"] as? Int ?? 0) > 0 }?["epoch"] as? Int
            }
            let epoch = try #require(paidEpoch, "no epoch paid anyone")
            let report = try await network.client.send(.GET, "/v1/epochs/\(epoch)").json
            let payouts = report["payouts"] as? [[String: Any]] ?? []
            let pool = report["pool"] as? Int ?? 0, carry = report["carryOut"] as? Int ?? -1
            #expect(payouts.count == 1 && payouts[0]["miner"] as? String == edgeID)
            #expect((payouts.first?["amount"] as? Int ?? 0) + carry == pool && pool == 30_000_000_000, "\(report)")
            // Every earlier epoch paid nobody and carried its whole pool.
            let all = try await network.client.send(.GET, "/v1/epochs").json["epochs"] as? [[String: Any]] ?? []
            #expect(all.allSatisfy { ($0["paid"] as? Int ?? 0) + ($0["carryOut"] as? Int ?? 0) == ($0["pool"] as? Int ?? -1) })

            let explained = try await run(depinBinary, ["rewards", "explain", "--coordinator", network.coordinator.base, "--epoch", String(epoch), "--miner", edgeID])
            #expect(explained.status == 0 && explained.output.contains("Merkle proof against root") && explained.output.contains("valid; root signed by the coordinator: yes"), "\(explained.output)")
            #expect(explained.output.contains("delivered with receipts:"))
            let listed = try await run(depinBinary, ["rewards", "epochs", "--coordinator", network.coordinator.base])
            #expect(listed.status == 0 && listed.output.contains("epoch \(epoch): pool 300.00000000 DHB"), "\(listed.output)")
            // Settled epochs take no more revenue.
            let late = try await network.client.send(
                .POST, "/v1/admin/revenue", body: Data(#"{"source":"ads","amount":5,"reason":"late","epoch":\#(epoch)}"#.utf8), headers: admin)
            #expect(late.status == 409, "\(late.text)")
        }
    }
}

extension NetworkSuites {
    @Suite("adversary edges against a real coordinator")
    struct AdversaryClaimTests {
        @Test("inflated, replayed, altered and forged claims are refused, honest ones in the same run are receipted, and nothing is counted twice")
        func adversaries() async throws {
            let dir = TemporaryDirectory("adversaries")
            defer { dir.remove() }
            let coordinator = try await CoordinatorProcess.start(["--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/c.key"])
            defer { coordinator.stop() }
            let client = CoordinatorClient(base: coordinator.base)
            try await TestClip.make(dir.path + "/in.mp4", seconds: 4, keyint: 30)
            var environment = ProcessInfo.processInfo.environment
            environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] = CoordinatorProcess.adminToken
            #expect(try await run(depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "movie", "--coordinator", coordinator.base], environment: environment).status == 0)
            let manifest = try JSONDecoder().decode(ContentManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/movie/manifest.json")))
            let size = manifest.segments.reduce(Int64(0)) { $0 + Int64($1.length) }
            let honest = NodeIdentity(), cheat = NodeIdentity()
            for node in [honest, cheat] {
                #expect(try await client.admin(node.id, "deposit", 1_000_000) == 200)
                #expect(try await client.admin(node.id, "bond", 1_000_000) == 200)
                #expect(try await client.register(node, lat: 48.86, lon: 2.35).status == 201)
            }
            let session = try #require(try await client.send(.GET, "/v1/route?content=movie&lat=48&lon=2").json["session"] as? String)
            let now = Int64(Date().timeIntervalSince1970)
            func claim(_ bytes: Int64, session: String = session) -> DeliveryClaim {
                DeliveryClaim(id: DeliveryClaim.newID(), content: "movie", session: session, bytes: bytes, segments: 1, ttfbMilliseconds: 9, firstAt: now, lastAt: now)
            }
            func submit(_ claims: [DeliveryClaim], as node: NodeIdentity) async throws -> ClaimAnswer {
                let body = try JSONEncoder().encode(ClaimBatch(claims: claims))
                let answer = try await client.send(.POST, "/v1/claims", body: body, headers: SignedRequest.headers(identity: node, method: "POST", path: "/v1/claims", body: body))
                #expect(answer.status == 200, "\(answer.text)")
                return try JSONDecoder().decode(ClaimAnswer.self, from: Data(answer.text.utf8))
            }
            let honestClaim = claim(size / 2)
            let first = try await submit([honestClaim], as: honest)
            #expect(first.receipts.count == 1 && first.refused.isEmpty)

            var attacks: [(String, DeliveryClaim, NodeIdentity)] = [
                ("inflated", claim(size * 10), cheat),
                ("replayed by another edge", honestClaim, cheat),
                ("forged session", claim(1000, session: "1800000000-0011223344556677-00112233445566778899aabbccddeeff"), cheat),
            ]
            var altered = honestClaim
            altered.bytes *= 3
            attacks.append(("altered and resent", altered, honest))
            var caught = 0
            for (name, attack, node) in attacks {
                let answer = try await submit([attack], as: node)
                if answer.receipts.isEmpty && answer.refused.count == 1 { caught += 1 } else { Issue.record("\(name) was not refused: \(answer)") }
            }
            // The honest edge's resend gets its receipt again, not a second one; a second honest claim
            // within the cap is receipted.
            let again = try await submit([honestClaim], as: honest)
            #expect(again.receipts == first.receipts)
            let second = try await submit([claim(size / 4)], as: honest)
            #expect(second.receipts.count == 1)
            // Unsigned or wrongly signed claims never reach the checks.
            let body = try JSONEncoder().encode(ClaimBatch(claims: [claim(1)]))
            #expect(try await client.send(.POST, "/v1/claims", body: body).status == 401)
            #expect(try await client.send(.POST, "/v1/claims", body: body, headers: SignedRequest.headers(identity: NodeIdentity(), method: "POST", path: "/v1/claims", body: body)).status == 401)
            print("adversary claims: \(caught) of \(attacks.count) caught; honest claims: 2 of 2 receipted, 0 false positives")
            #expect(caught == attacks.count)
        }
    }
}
