@testable import Coordinator
import DePINProtocol
import Foundation
import Testing

@Suite("Epoch settlement: the pool exactly, never more")
struct SettlementTests {
    static func miner(_ id: String, delivered: Int64 = 0, hosted: Int64 = 0, passed: Int = 0, total: Int = 0, cores: Int = 8, mbps: Double = 100, measured: Double? = nil) -> MinerInputs {
        MinerInputs(
            miner: id, deviceClass: "pc", cores: cores, ramGB: 16, mbpsClaimed: mbps, mbpsMeasured: measured, deliveredBytes: delivered, hostedBytes: hosted,
            challengesPassed: passed, challengesTotal: total, reputation: total > 0 ? Double(passed) / Double(total) : 1)
    }

    static func randomEpoch(_ generator: inout SeededRandom) -> (pool: Int64, inputs: [MinerInputs]) {
        let pool = Int64.random(in: 0...50_000_000_000_000, using: &generator)
        let inputs = (0..<Int.random(in: 0...40, using: &generator)).map { index in
            miner(
                "m\(index)", delivered: Bool.random(using: &generator) ? Int64.random(in: 0...5_000_000_000_000, using: &generator) : 0,
                hosted: Int64.random(in: 0...1_000_000_000_000, using: &generator), passed: Int.random(in: 0...5, using: &generator), total: 5,
                cores: Int.random(in: 1...64, using: &generator), mbps: Double.random(in: 0...10_000, using: &generator),
                measured: Bool.random(using: &generator) ? Double.random(in: 0...10_000, using: &generator) : nil)
        }
        return (pool, inputs)
    }

    @Test("for random epochs, payouts plus the carry equal the pool, every payout proves against the root, and the same inputs give the same payouts and root")
    func sumsToPool() {
        var generator = SeededRandom(seed: 42)
        for epoch in 0..<300 {
            let (pool, inputs) = Self.randomEpoch(&generator)
            let settled = Settlement.settle(epoch: Int64(epoch), pool: pool, inputs: inputs)
            #expect(settled.payouts.reduce(0) { $0 + $1.amount } + settled.carry == pool)
            // Rounding down loses less than a base unit per miner; with nobody to pay, all carries.
            #expect(settled.payouts.isEmpty ? settled.carry == pool : (settled.carry >= 0 && settled.carry < Int64(settled.payouts.count)))
            #expect(settled.payouts.allSatisfy { Settlement.verifies($0, epoch: Int64(epoch), root: settled.root) })
            let again = Settlement.settle(epoch: Int64(epoch), pool: pool, inputs: inputs.shuffled(using: &generator))
            #expect(again.payouts == settled.payouts && again.root == settled.root && again.carry == settled.carry)
        }
    }

    @Test("no reward without receipts or passed challenges; measured bandwidth caps claimed bandwidth")
    func nothingUnverified() {
        let settled = Settlement.settle(
            epoch: 1, pool: 1_000_000,
            inputs: [Self.miner("idle"), Self.miner("failed-host", hosted: 1_000_000_000, passed: 0, total: 4), Self.miner("worker", delivered: 1_000_000_000)])
        #expect(settled.payouts.map(\.miner) == ["worker"] && settled.payouts[0].amount == 1_000_000)
        // An edge claiming 10 Gbit/s whose receipts show 10 Mbit/s scores as 10 Mbit/s.
        #expect(Settlement.points(Self.miner("a", delivered: 1_000_000_000, mbps: 10_000, measured: 10)) == Settlement.points(Self.miner("b", delivered: 1_000_000_000, mbps: 10, measured: 10)))
        // Bandwidth no receipt showed counts for nothing.
        #expect(Settlement.points(Self.miner("c", hosted: 1_000_000_000, passed: 1, total: 1, mbps: 10_000)) == Settlement.points(Self.miner("d", hosted: 1_000_000_000, passed: 1, total: 1, mbps: 0)))
        // Nobody worked: the whole pool carries on.
        #expect(Settlement.settle(epoch: 2, pool: 500, inputs: [Self.miner("idle")]).carry == 500)
    }

    @Test("a miner's reward never falls when only its verified volume grows")
    func monotonic() {
        var generator = SeededRandom(seed: 9)
        for _ in 0..<200 {
            var (pool, inputs) = Self.randomEpoch(&generator)
            guard !inputs.isEmpty else { continue }
            pool = max(pool, 1)
            let index = Int.random(in: 0..<inputs.count, using: &generator)
            let before = Settlement.settle(epoch: 0, pool: pool, inputs: inputs).payouts.first { $0.miner == inputs[index].miner }?.amount ?? 0
            inputs[index].deliveredBytes += Int64.random(in: 1...1_000_000_000_000, using: &generator)
            let after = Settlement.settle(epoch: 0, pool: pool, inputs: inputs).payouts.first { $0.miner == inputs[index].miner }?.amount ?? 0
            #expect(after >= before, "\(inputs[index].miner): \(before) -> \(after)")
        }
    }

    @Test("verified transcoding weighs 2.0 against delivery's 1.0; cores count as credited by probes, never more than claimed")
    func transcodingAndCores() {
        var transcoder = Self.miner("t", measured: 100)
        transcoder.transcodedBytes = 1_000_000_000
        var deliverer = Self.miner("d", delivered: 1_000_000_000, measured: 100)
        #expect(abs(Settlement.points(transcoder) - 2 * Settlement.points(deliverer)) < 1e-9)
        // Cores as measured: a miner claiming 8 and credited 2 scores 0.4 x 2, not 0.4 x 8.
        deliverer.coresCredited = 2
        #expect(abs(Settlement.resourceScore(deliverer) - (0.4 * 2 + 0.3 * 100 + 0.3 * 16)) < 1e-9)
        deliverer.coresCredited = 50
        #expect(abs(Settlement.resourceScore(deliverer) - (0.4 * 8 + 0.3 * 100 + 0.3 * 16)) < 1e-9)
        // A report from before probes (no credited cores) counted the claim.
        deliverer.coresCredited = nil
        #expect(abs(Settlement.resourceScore(deliverer) - (0.4 * 8 + 0.3 * 100 + 0.3 * 16)) < 1e-9)
        // No transcode earns without a verified volume.
        transcoder.transcodedBytes = 0
        #expect(Settlement.points(transcoder) == 0)
    }
}
