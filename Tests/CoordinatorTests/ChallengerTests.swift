@testable import Coordinator
import DePINProtocol
import Foundation
import TestSupport
import Testing

@Suite("Proofs of retrievability: challenges, reputation, suspension and slashing")
struct ChallengerTests {
    @Test("reputation is a decayed mean of outcomes; standing follows the thresholds once there are enough outcomes")
    func reputation() {
        let policy = ReputationPolicy()
        func record(_ outcome: ChallengeRecord.Outcome, at: Int64 = 1000) -> ChallengeRecord {
            ChallengeRecord(id: "x", node: "n", content: "c", segment: 0, chunk: 0, issuedAt: at, deadline: at + 10, outcome: outcome)
        }
        #expect(policy.score([], now: 1000) == 1)
        #expect(policy.score([record(.pass), record(.fail)], now: 1000) == 0.5)
        #expect(policy.score([record(.late), record(.offline)], now: 1000) == 0.25)
        // A day-old failure weighs half of a fresh pass.
        #expect(abs(policy.score([record(.fail, at: 1000), record(.pass, at: 1000 + 86_400)], now: 1000 + 86_400) - 2.0 / 3) < 1e-9)
        #expect(policy.standing(score: 1, challenges: 100) == .good)
        #expect(policy.standing(score: 0.85, challenges: 2) == .warned)
        #expect(policy.standing(score: 0.5, challenges: 7) == .warned)  // too few outcomes to act on
        #expect(policy.standing(score: 0.7, challenges: 8) == .suspended)
        #expect(policy.standing(score: 0.5, challenges: 8) == .slashed)
    }

    @Test("an honest host passes; a host without the data fails, is suspended, then slashed once with the failed challenges as evidence")
    func lifecycle() async throws {
        let dir = TemporaryDirectory("challenger")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        let (registry, edges) = try await TaskBoardTests.network([("honest", "server", 48.86, 2.35), ("cheat", "server", 52.5, 13.4)], store: store, clock: clock)
        let board = TaskBoard(store: store, registry: registry, policy: HostingPolicy(), now: clock.now)
        var policy = ReputationPolicy()
        policy.minimumChallenges = 4
        let challenger = Challenger(store: store, registry: registry, board: board, policy: policy, deadline: 10, now: clock.now)
        // A title of two 200 KB segments of random ciphertext.
        let segments = (0..<2).map { _ in (0..<200_000).map { _ in UInt8.random(in: 0...255) } }
        var manifest = TaskBoardTests.manifest("movie", ladder: [])
        manifest.segments = segments.enumerated().map { index, bytes in
            .init(index: index, duration: 4, length: bytes.count, sha256: String(repeating: "a", count: 64), merkleRoot: JSONText.hex(MerkleTree(data: bytes).root))
        }
        try await store.saveContent(ContentRecord(id: "movie", manifest: String(decoding: try JSONEncoder().encode(manifest), as: UTF8.self), sealedKey: "x", createdAt: 0))
        for edge in edges.values {
            _ = try await store.addTask(TaskRecord(node: edge.identity.id, content: "movie", kind: .hosting, createdAt: clock.now()))
            #expect(try await board.hosted(node: edge.identity.id, content: "movie"))
        }
        let honest = edges["honest"]!.identity.id, cheat = edges["cheat"]!.identity.id
        func answer(_ challenge: ChallengeRecord, data: [UInt8]? = nil) async throws -> ChallengeVerdict {
            let bytes = segments[challenge.segment]
            let tree = MerkleTree(data: bytes)
            let chunk = Array(bytes[challenge.chunk * MerkleTree.chunkSize..<min((challenge.chunk + 1) * MerkleTree.chunkSize, bytes.count)])
            return try await challenger.answer(
                ChallengeResponse(id: challenge.id, data: Data(data ?? chunk).base64EncodedString(), proof: tree.proof(chunk: challenge.chunk)!), from: challenge.node)
        }

        var slashedAfter: Int?
        for round in 1...8 {
            let issued = try await challenger.round()
            #expect(Set(issued.map(\.node)) == (registry.isSlashed(cheat) ? [honest] : [honest, cheat]), "round \(round)")
            for challenge in issued where challenge.node == honest {
                let verdict = try await answer(challenge)
                #expect(verdict.outcome == "pass" && verdict.reputation == 1 && verdict.standing == nil)
            }
            // The cheat answers every other challenge with garbage, and ignores the rest.
            if let challenge = issued.first(where: { $0.node == cheat }), round % 2 == 0 {
                #expect(try await answer(challenge, data: [UInt8](repeating: 7, count: 100)).outcome == "fail")
            }
            clock.advance(11)
            if slashedAfter == nil, registry.isSlashed(cheat) { slashedAfter = round }
        }
        let last = try #require(try await challenger.round().first { $0.node == honest })
        #expect(slashedAfter != nil)
        #expect(try await challenger.reputation(of: honest).score == 1)
        let cheatStanding = try await challenger.reputation(of: cheat)
        #expect(cheatStanding.score == 0 && cheatStanding.standing?.hasPrefix("slashed") == true)
        // Suspended from routing and hosting; slashed exactly once, with the evidence.
        for name in ["honest", "cheat"] {
            let beat = Data(#"{"load":0.1,"freeCacheBytes":5,"healthy":true}"#.utf8)
            _ = try await registry.heartbeat(body: beat, headers: edges[name]!.signed(beat, path: "/v1/heartbeat", at: clock.now()), path: "/v1/heartbeat")
        }
        #expect(registry.eligible(cheat, for: .hosting) == nil && registry.eligible(honest, for: .hosting) != nil)
        #expect(try await registry.status(of: cheat)?.refusal == "slashed")
        let slashes = try await store.ledger(node: cheat).filter { $0.kind == .slash }
        #expect(slashes.count == 1)
        #expect(slashes.first?.evidence?.contains("\"outcome\":\"fail\"") == true && slashes.first?.evidence?.contains("\"outcome\":\"offline\"") == true)
        #expect(slashes.first?.reason.contains("failed proofs of retrievability") == true)
        // A settled challenge cannot be answered again; another node's cannot be answered at all.
        _ = try await answer(last)
        await #expect { try await answer(last) } throws: { ($0 as? RegistryError)?.code == .replayed }
        var stolen = last
        stolen.node = cheat
        await #expect { try await answer(stolen) } throws: { ($0 as? RegistryError)?.code == .badRequest }
    }
}
