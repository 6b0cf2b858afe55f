import DePINProtocol
import Foundation
import Synchronization

/// How challenge outcomes become a host's reputation, and what a poor one costs.
package struct ReputationPolicy: Sendable, Equatable {
    /// Seconds after which an outcome weighs half.
    package var halfLife = 86_400.0
    /// Outcomes older than this are forgotten, seconds.
    package var window: Int64 = 7 * 86_400
    package var warnBelow = 0.9
    package var suspendBelow = 0.75
    package var slashBelow = 0.6
    /// Outcomes needed before a host is suspended or slashed.
    package var minimumChallenges = 8
    /// The share of its class's stake a host loses when slashed.
    package var slashFraction = 0.1

    package init() {}

    /// A time-decayed mean of the outcomes: pass 1, late 0.5, fail and offline 0; 1 with none.
    package func score(_ outcomes: [ChallengeRecord], now: Int64) -> Double {
        var weighted = 0.0, weights = 0.0
        for record in outcomes {
            guard let outcome = record.outcome else { continue }
            let weight = pow(0.5, Double(max(0, now - record.issuedAt)) / halfLife)
            let value: Double =
                switch outcome {
                case .pass: 1
                case .late: 0.5
                case .fail, .offline: 0
                }
            weighted += weight * value
            weights += weight
        }
        return weights > 0 ? weighted / weights : 1
    }

    package enum Standing: String, Sendable, Equatable {
        case good, warned, suspended, slashed
    }

    package func standing(score: Double, challenges: Int) -> Standing {
        if challenges >= minimumChallenges && score < slashBelow { return .slashed }
        if challenges >= minimumChallenges && score < suspendBelow { return .suspended }
        if score < warnBelow { return .warned }
        return .good
    }
}

/// Proofs of retrievability: every round each edge that holds a whole hosted title (its hosting
/// task done) and has no challenge open gets one, for a title, segment and 64 KiB chunk picked
/// at random then (so no host can know in advance what to keep), due within ``deadline``
/// seconds. Answers are checked against the manifest's Merkle root; unanswered ones become
/// `offline`. A host's outcomes make its ``ReputationPolicy`` score: below the thresholds it
/// is warned (in its node status and every verdict), suspended from routing and hosting, then
/// slashed once, with the failed challenges recorded as the ledger event's evidence.
package final class Challenger: Sendable {
    let store: any CatalogStore & ChallengeStore & TaskStore
    let registry: Registry
    let board: TaskBoard
    package let policy: ReputationPolicy
    /// Seconds a host has to answer.
    let deadline: Int64
    private let now: @Sendable () -> Int64

    package init(
        store: any CatalogStore & ChallengeStore & TaskStore, registry: Registry, board: TaskBoard, policy: ReputationPolicy = ReputationPolicy(), deadline: Int64 = 10,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.registry = registry
        self.board = board
        self.policy = policy
        self.deadline = deadline
        self.now = now
    }

    /// One round: expire overdue challenges, judge their hosts, issue new challenges.
    /// - Returns: the challenges issued.
    @discardableResult
    package func round() async throws -> [ChallengeRecord] {
        let time = now()
        let expired = try await store.expireChallenges(deadlineBefore: time)
        for node in Set(expired.map(\.node)) { _ = try await judge(node) }
        var hosted: [String: [String]] = [:]
        for content in try await store.contentIDs() {
            for task in try await store.tasks(content: content) where task.kind == .hosting && task.doneAt != nil {
                hosted[task.node, default: []].append(content)
            }
        }
        var issued: [ChallengeRecord] = []
        var generator = SystemRandomNumberGenerator()
        for (node, titles) in hosted.sorted(by: { $0.key < $1.key }) where !registry.isSlashed(node) {
            guard try await store.openChallenges(node: node).isEmpty, let content = titles.randomElement(using: &generator),
                let manifest = try await board.catalog.title(content)?.manifest, let segment = manifest.segments.randomElement(using: &generator)
            else { continue }
            let chunks = max(1, (segment.length + MerkleTree.chunkSize - 1) / MerkleTree.chunkSize)
            let challenge = ChallengeRecord(
                id: DeliveryClaim.newID(), node: node, content: content, segment: segment.index, chunk: Int.random(in: 0..<chunks, using: &generator),
                issuedAt: time, deadline: time + deadline)
            try await store.addChallenge(challenge)
            board.wake(node)
            issued.append(challenge)
        }
        return issued
    }

    /// A host's answer.
    /// - Throws: ``RegistryError`` for an unknown challenge or another node's.
    package func answer(_ response: ChallengeResponse, from node: String) async throws -> ChallengeVerdict {
        guard let challenge = try await store.challenge(id: response.id), challenge.node == node else {
            throw RegistryError.badRequest("node \(node) has no challenge \(response.id.prefix(40))")
        }
        guard challenge.outcome == nil else {
            throw RegistryError.replayed("challenge \(challenge.id) was settled already (\(challenge.outcome!.rawValue))")
        }
        let time = now()
        var matches = false
        if let data = Data(base64Encoded: response.data), response.proof.chunk == challenge.chunk,
            let manifest = try await board.catalog.title(challenge.content)?.manifest,
            let segment = manifest.segments.first(where: { $0.index == challenge.segment }),
            let root = JSONText.bytes(hex: segment.merkleRoot)
        {
            matches = response.proof.verifies(data, root: root)
        }
        let outcome: ChallengeRecord.Outcome = !matches ? .fail : time > challenge.deadline ? .late : .pass
        guard try await store.settleChallenge(id: challenge.id, outcome: outcome, at: time) else {
            throw RegistryError.replayed("challenge \(challenge.id) was settled already")
        }
        let (score, standing) = try await judge(node)
        return ChallengeVerdict(outcome: outcome.rawValue, reputation: score, standing: standing)
    }

    /// A host's reputation now and what it means, as its operator should read it.
    package func reputation(of node: String) async throws -> (score: Double, standing: String?) {
        let outcomes = try await store.settledChallenges(node: node, since: now() - policy.window)
        let score = policy.score(outcomes, now: now())
        return (score, Self.describe(policy.standing(score: score, challenges: outcomes.count), score: score, count: outcomes.count, policy: policy))
    }

    /// Recomputes a host's reputation and applies its consequences.
    private func judge(_ node: String) async throws -> (Double, String?) {
        let time = now()
        let outcomes = try await store.settledChallenges(node: node, since: time - policy.window)
        let score = policy.score(outcomes, now: time)
        let standing = policy.standing(score: score, challenges: outcomes.count)
        let text = Self.describe(standing, score: score, count: outcomes.count, policy: policy)
        switch standing {
        case .good, .warned:
            registry.setSuspension(node, reason: nil)
        case .suspended:
            registry.setSuspension(node, reason: text)
        case .slashed:
            registry.setSuspension(node, reason: text)
            try await slash(node, outcomes: outcomes, score: score)
        }
        return (score, text)
    }

    private func slash(_ node: String, outcomes: [ChallengeRecord], score: Double) async throws {
        let failed = outcomes.filter { $0.outcome != .pass }.suffix(20).map {
            FailedChallenge(challenge: $0.id, content: $0.content, segment: $0.segment, chunk: $0.chunk, outcome: $0.outcome?.rawValue ?? "", issuedAt: $0.issuedAt)
        }
        try await registry.slash(
            node, fraction: policy.slashFraction,
            reason: String(format: "failed proofs of retrievability: reputation %.2f over %d challenges", score, outcomes.count),
            evidence: try Evidence.json(failed))
    }

    static func describe(_ standing: ReputationPolicy.Standing, score: Double, count: Int, policy: ReputationPolicy) -> String? {
        let summary = String(format: "proof-of-retrievability reputation %.2f over %d challenges", score, count)
        switch standing {
        case .good: return nil
        case .warned: return "warned: \(summary) (suspended below \(policy.suspendBelow))"
        case .suspended: return "suspended: \(summary) (below \(policy.suspendBelow); slashed below \(policy.slashBelow))"
        case .slashed: return "slashed: \(summary) (below \(policy.slashBelow))"
        }
    }
}
