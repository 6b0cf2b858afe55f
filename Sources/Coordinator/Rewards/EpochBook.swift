import Crypto
import DePINProtocol
import Foundation

/// How an epoch's pool is made and how long an epoch is.
package struct RewardPolicy: Sendable, Equatable {
    /// Seconds an epoch lasts; epoch N covers `[N x epochSeconds, (N + 1) x epochSeconds)`.
    package var epochSeconds: Int64 = 86_400
    /// The share of in-app revenue (subscriptions, ads, purchases) that feeds the pool.
    package var appShare = 0.3
    /// The share of token transaction fees that feeds the pool.
    package var feeShare = 0.5

    package init() {}
}

/// An epoch's published settlement: every input, every miner's points and payout with its
/// Merkle path, and the root the coordinator signed, so a chain contract (or anyone) can pay
/// out by Merkle claims and check each.
package struct EpochReport: Codable, Sendable, Equatable {
    package var epoch: Int64
    package var startsAt: Int64
    package var endsAt: Int64
    /// Revenue recorded for the epoch per source, and the shares taken into the pool.
    package var revenue: [String: Int64]
    package var appShare: Double
    package var feeShare: Double
    /// New pool from this epoch's revenue, what the previous epoch carried, and their sum.
    package var newPool: Int64
    package var carryIn: Int64
    package var pool: Int64
    package var totalPoints: Double
    package var payouts: [Payout]
    /// What rounding left, carried to the next epoch: `sum(payouts) + carryOut == pool`.
    package var carryOut: Int64
    /// Hex Merkle root over the payouts, and the coordinator's Ed25519 signature (base64) of
    /// `DEPIN-EPOCH-1\n{epoch}\n{pool}\n{root}`.
    package var root: String
    package var signature: String
    package var inputs: [MinerInputs]
}

/// Settles each epoch once it has ended (DESIGN.md, "Rewards"): the pool is the configured
/// shares of the epoch's revenue plus the previous epoch's carry; each miner's inputs are
/// measured from the store (receipts, hosted titles, challenge outcomes) and scored by
/// ``Settlement``.
package final class EpochBook: Sendable {
    let store: any CoordinatorStore
    let vault: KeyVault
    let reputation: ReputationPolicy
    let capacity: CapacityPolicy
    package let policy: RewardPolicy
    let catalog: Catalog
    private let now: @Sendable () -> Int64

    package init(
        store: any CoordinatorStore, vault: KeyVault, reputation: ReputationPolicy, capacity: CapacityPolicy = CapacityPolicy(), policy: RewardPolicy,
        catalog: Catalog? = nil, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.catalog = catalog ?? Catalog(store: store, now: now)
        self.vault = vault
        self.reputation = reputation
        self.capacity = capacity
        self.policy = policy
        self.now = now
    }

    package func epoch(at time: Int64) -> Int64 { time >= 0 ? time / policy.epochSeconds : (time + 1) / policy.epochSeconds - 1 }

    /// Settles every ended epoch not settled yet (from the one after the last settled, or the
    /// first with revenue), at most 100 at a time.
    @discardableResult
    package func settleDue() async throws -> [EpochReport] {
        let current = epoch(at: now())
        let start: Int64
        if let last = try await store.epochs(limit: 1).first {
            start = last.epoch + 1
        } else if let first = try await store.firstRevenueEpoch() {
            start = first
        } else {
            return []
        }
        var reports: [EpochReport] = []
        var next = start
        while next < current && reports.count < 100 {
            reports.append(try await settle(next))
            next += 1
        }
        return reports
    }

    /// Settles epoch `number` (which must have ended) and stores its report.
    package func settle(_ number: Int64) async throws -> EpochReport {
        let startsAt = number * policy.epochSeconds, endsAt = startsAt + policy.epochSeconds
        var revenue: [String: Int64] = [:]
        for entry in try await store.revenue(epoch: number) { revenue[entry.source.rawValue, default: 0] += entry.amount }
        let app = RevenueEntry.Source.allCases.filter { $0 != .tokenFees }.reduce(Int64(0)) { $0 + (revenue[$1.rawValue] ?? 0) }
        let fees = revenue[RevenueEntry.Source.tokenFees.rawValue] ?? 0
        let newPool = Int64((Double(app) * policy.appShare).rounded(.down)) + Int64((Double(fees) * policy.feeShare).rounded(.down))
        let carryIn = try await store.epoch(number - 1)?.carry ?? 0
        let pool = newPool + carryIn
        let inputs = try await inputs(from: startsAt, to: endsAt)
        let (payouts, root, carry) = Settlement.settle(epoch: number, pool: pool, inputs: inputs)
        let rootHex = JSONText.hex(root)
        let signature = try vault.identity.privateKey.signature(for: Data("DEPIN-EPOCH-1\n\(number)\n\(pool)\n\(rootHex)".utf8)).base64EncodedString()
        let report = EpochReport(
            epoch: number, startsAt: startsAt, endsAt: endsAt, revenue: revenue, appShare: policy.appShare, feeShare: policy.feeShare,
            newPool: newPool, carryIn: carryIn, pool: pool, totalPoints: payouts.reduce(0) { $0 + $1.points }, payouts: payouts, carryOut: carry,
            root: rootHex, signature: signature, inputs: inputs)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try await store.saveEpoch(
            EpochRecord(epoch: number, pool: pool, carry: carry, settledAt: now(), report: String(decoding: try encoder.encode(report), as: UTF8.self)))
        return report
    }

    /// What every miner did between `from` and `to`, as measured.
    func inputs(from: Int64, to: Int64) async throws -> [MinerInputs] {
        var delivered: [String: Int64] = [:]
        var measured: [String: Double] = [:]
        for claim in try await store.claims(acceptedFrom: from, to: to) {
            delivered[claim.node, default: 0] += claim.bytes
            if let window = claim.window {
                let mbps = Double(claim.bytes) * 8 / Double(max(1, window.lastAt - window.firstAt)) / 1e6
                measured[claim.node] = max(measured[claim.node] ?? 0, mbps)
            }
        }
        var hosted: [String: Int64] = [:]
        for content in try await store.contentIDs() {
            let hosts = try await store.tasks(content: content).filter { $0.kind == .hosting && ($0.doneAt ?? .max) < to }
            // A title whose manifest does not decode stops the settlement with that error,
            // rather than leaving its hosts unpaid without a word.
            guard !hosts.isEmpty, let title = try await catalog.title(content) else { continue }
            for host in hosts { hosted[host.node, default: 0] += title.bytes }
        }
        var transcoded: [String: Int64] = [:]
        for report in try await store.earningTranscodes(decidedFrom: from, to: to) { transcoded[report.node, default: 0] += report.bytes }
        var out: [MinerInputs] = []
        for node in try await store.nodes() where delivered[node.id] != nil || hosted[node.id] != nil || transcoded[node.id] != nil {
            let probes = try await store.settledProbes(node: node.id, since: to - capacity.window).filter { $0.issuedAt < to }
            let best = CapacityPolicy.best(of: probes)
            let outcomes = try await store.settledChallenges(node: node.id, since: to - reputation.window).filter { $0.issuedAt < to }
            let inEpoch = outcomes.filter { $0.issuedAt >= from }
            out.append(
                MinerInputs(
                    miner: node.id, deviceClass: node.deviceClass, cores: node.cores, ramGB: node.ramGB, mbpsClaimed: node.mbps,
                    mbpsMeasured: measured[node.id], deliveredBytes: delivered[node.id] ?? 0, hostedBytes: hosted[node.id] ?? 0,
                    transcodedBytes: transcoded[node.id] ?? 0, challengesPassed: inEpoch.filter { $0.outcome == .pass }.count, challengesTotal: inEpoch.count,
                    reputation: reputation.score(outcomes, now: to), coresMeasured: best, coresCredited: capacity.credited(claimed: node.cores, best: best)))
        }
        return out
    }
}
