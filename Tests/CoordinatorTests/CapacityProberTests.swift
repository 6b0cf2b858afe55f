@testable import Coordinator
import DePINProtocol
import Foundation
import TestSupport
import Testing

@Suite("Capacity probes: cores as measured, not as claimed")
struct CapacityProberTests {
    @Test("a probe's nonces check out one hash each; a wrong or missing nonce does not; a malformed probe or one past its stop time gives none")
    func workProbe() async throws {
        let probe = WorkProbe(id: "x", seed: "000102030405060708090a0b0c0d0e0f", parts: 6, bits: 10, deadline: 0)
        let nonces = try #require(await probe.solve(threads: 3))
        let seed = try #require(JSONText.bytes(hex: probe.seed))
        #expect(nonces.count == 6)
        #expect(nonces.enumerated().allSatisfy { WorkProbe.accepts(seed: seed, part: $0.offset, nonce: $0.element, bits: 10) })
        // Each nonce is the first that works, so solving again gives the same answer.
        #expect(await probe.solve(threads: 1) == nonces)
        // A nonce for one part does not solve another (with 10 bits, 1 in 1,024 would by chance).
        #expect(!WorkProbe.accepts(seed: seed, part: 1, nonce: nonces[0], bits: 10) || nonces[0] == nonces[1])
        #expect(!WorkProbe.accepts(seed: seed, part: 0, nonce: nonces[0] &- 1, bits: 10) || nonces[0] == 0)
        #expect(await WorkProbe(id: "x", seed: "not hex", parts: 1, bits: 1, deadline: 0).solve(threads: 1) == nil)
        #expect(await WorkProbe(id: "x", seed: "00", parts: 0, bits: 1, deadline: 0).solve(threads: 1) == nil)
        #expect(await WorkProbe(id: "x", seed: "00", parts: 100, bits: 20, deadline: 0).solve(threads: 2, stopAt: Date().timeIntervalSince1970 - 1) == nil)
    }

    @Test("probes are sized to the claim; a claim counts whole when a measurement backs half of it, else the measurement, never more than claimed")
    func policy() {
        var policy = CapacityPolicy()
        policy.referenceRate = 1_048_576
        policy.probeSeconds = 2
        #expect(policy.parts(claimedCores: 4) == 128)
        #expect(policy.parts(claimedCores: 16) == 512)
        #expect(policy.parts(claimedCores: 1_000_000) == WorkProbe.maxParts)
        // 128 parts of 2^16 hashes in 2 s at 2^20 a core: 4 cores.
        #expect(policy.measuredCores(parts: 128, bits: 16, millis: 2000) == 4)
        #expect(policy.credited(claimed: 8, best: nil) == 0)
        #expect(policy.credited(claimed: 8, best: 4) == 8)
        #expect(policy.credited(claimed: 8, best: 3.9) == 3.9)
        #expect(policy.credited(claimed: 8, best: 20) == 8)
        #expect(policy.credited(claimed: 64, best: 2) == 2)
        // Routing counts a claim until the first probe, then as credited.
        #expect(policy.routed(claimed: 8, best: nil) == 8)
        #expect(policy.routed(claimed: 8, best: 4) == 8)
        #expect(policy.routed(claimed: 8, best: 3.9) == 3.9)
        #expect(policy.routed(claimed: 8, best: 0) == 0)
        #expect(RoutingPolicy(viewersPerCore: 250).viewerCapacity(cores: 3.9) == 975)
        #expect(RoutingPolicy(viewersPerCore: 250).viewerCapacity(cores: 0) == 1)
        // Probes turned off: nothing is measured, claims count.
        policy.interval = 0
        #expect(policy.credited(claimed: 8, best: nil) == 8)
    }

    @Test("nodes are probed in turn up to the concurrency; a right answer is timed from the hand-over; wrong, foreign and repeated answers are refused; viewer capacity follows what probes measured, also after a restart")
    func prober() async throws {
        let dir = TemporaryDirectory("prober")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        let (registry, edges) = try await TaskBoardTests.network([("a", "server", 48.86, 2.35), ("b", "server", 52.5, 13.4)], store: store, clock: clock)
        let board = TaskBoard(store: store, registry: registry, policy: HostingPolicy(), now: clock.now)
        var policy = CapacityPolicy()
        policy.referenceRate = 10_000
        policy.probeSeconds = 0.1
        policy.interval = 20
        policy.concurrency = 1
        let prober = CapacityProber(store: store, registry: registry, board: board, policy: policy, now: clock.now)
        let a = edges["a"]!.identity.id, b = edges["b"]!.identity.id

        func capacity(_ id: String) -> Int { registry.viewerCapacity(of: registry.known(id)!) }
        let claimed = registry.known(a)!.cores
        #expect(capacity(a) == claimed * registry.policy.viewersPerCore, "a claim counts until a probe measures it")
        let first = try await prober.round()
        #expect(first.count == 1)
        #expect(try await prober.round().isEmpty)  // one out at a time
        let probed = first[0].node, other = probed == a ? b : a
        #expect(try await prober.deliver(to: other).isEmpty)
        let handed = try #require(try await prober.deliver(to: probed).first)
        #expect(try await store.probe(id: handed.id)?.deliveredMillis != nil)
        // Another node cannot answer it; a wrong nonce fails it.
        await #expect(throws: RegistryError.self) { try await prober.answer(WorkProbeAnswer(id: handed.id, nonces: []), from: other) }
        let nonces = try #require(await handed.solve(threads: 2))
        var wrong = nonces
        wrong[0] = wrong[0] &+ 1
        let seed = try #require(JSONText.bytes(hex: handed.seed))
        if !WorkProbe.accepts(seed: seed, part: 0, nonce: wrong[0], bits: handed.bits) {
            let failed = try await prober.answer(WorkProbeAnswer(id: handed.id, nonces: wrong), from: probed)
            #expect(failed.outcome == "fail" && failed.measuredCores == 0)
            #expect(failed.standing?.hasPrefix("warned: claims \(registry.known(probed)!.cores) cores") == true)
            #expect(capacity(probed) == 1, "a failed probe measured nothing: routes prefer any edge with room")
            await #expect(throws: RegistryError.self) { try await prober.answer(WorkProbeAnswer(id: handed.id, nonces: nonces), from: probed) }
        }
        // The other node is next; a right answer measures cores.
        let second = try await prober.round()
        #expect(second.map(\.node) == [other])
        let next = try #require(try await prober.deliver(to: other).first)
        let verdict = try await prober.answer(WorkProbeAnswer(id: next.id, nonces: try #require(await next.solve(threads: 2))), from: other)
        #expect(verdict.outcome == "pass" && verdict.measuredCores > 0)
        #expect(try await prober.standing(of: other).best == verdict.measuredCores)
        let routed = policy.routed(claimed: registry.known(other)!.cores, best: verdict.measuredCores)
        #expect(capacity(other) == registry.policy.viewerCapacity(cores: routed))
        // A coordinator started again over the same store routes by the measurements it finds:
        // the failed probe still leaves one viewer of capacity.
        if try await prober.standing(of: probed).best == 0 {
            registry.noteRoutedCores(probed, nil)
            #expect(capacity(probed) == registry.known(probed)!.cores * registry.policy.viewersPerCore)
            let restarted = CapacityProber(store: store, registry: registry, board: board, policy: policy, now: clock.now)
            _ = try await restarted.round()
            #expect(capacity(probed) == 1)
        }
        // Nobody is due again until the interval has passed.
        #expect(try await prober.round().isEmpty)
        clock.advance(21)
        #expect(try await prober.round().map(\.node) == [probed])
    }
}
