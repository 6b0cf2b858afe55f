import DePINProtocol
import Foundation
import Synchronization

/// How capacity probes are sized, how often they run and how their measurements count.
package struct CapacityPolicy: Sendable, Equatable {
    /// Hashes per second one reference core reaches on probe work: the unit of measured cores.
    package var referenceRate = 2_000_000.0
    /// Seconds a probe takes a node that has the cores it claims.
    package var probeSeconds = 2.0
    /// Seconds between two probes of one node (0: never probe).
    package var interval: Int64 = 3600
    /// Probes out at once across the network, so the coordinator's checks stay cheap.
    package var concurrency = 64
    /// A claim counts whole when a probe in the ``window`` measured at least this share of it;
    /// otherwise the best measurement counts.
    package var tolerance = 0.5
    /// Seconds of probes that count (the best of them: load only ever lowers a measurement).
    package var window: Int64 = 7 * 86_400
    /// Leading zero bits per part: 2^16 hashes, a few milliseconds of a core.
    package static let bits = 16

    package init() {}

    /// The probe for a node claiming `cores`: enough parts for ``probeSeconds`` of that many
    /// reference cores, at least a few per core so the work spreads evenly.
    package func parts(claimedCores cores: Int) -> Int {
        let work = Double(max(1, cores)) * referenceRate * probeSeconds
        return min(WorkProbe.maxParts, max(4 * max(1, cores), Int((work / Double(1 << Self.bits)).rounded(.up))))
    }

    /// The best measurement among settled `probes` (a failed one measured none); nil when there
    /// are none.
    package static func best(of probes: [ProbeRecord]) -> Double? { probes.map { $0.measuredCores ?? 0 }.max() }

    /// The cores a node is routed by (its viewer capacity): as credited, except that a node
    /// never measured counts its claim until its first probe (it is probed in its first round).
    package func routed(claimed: Int, best: Double?) -> Double {
        best == nil ? Double(claimed) : credited(claimed: claimed, best: best)
    }

    /// Seconds a node has to answer: four times what its claim needs, and at least 10.
    package var deadlineSeconds: Int64 { max(10, Int64((probeSeconds * 4).rounded(.up)) + 2) }

    /// Reference cores shown by `parts` parts answered in `millis` milliseconds.
    package func measuredCores(parts: Int, bits: Int, millis: Int64) -> Double {
        Double(parts) * Double(1 << bits) / (Double(max(1, millis)) / 1000) / referenceRate
    }

    /// The cores a miner is credited with: its claim when the best measurement backs at least
    /// ``tolerance`` of it, else the best measurement; none when it was never measured. With
    /// probes turned off (``interval`` 0) nothing is measured and claims count as made.
    package func credited(claimed: Int, best: Double?) -> Double {
        guard interval > 0 else { return Double(claimed) }
        guard let best else { return 0 }
        return best >= tolerance * Double(claimed) ? Double(claimed) : min(Double(claimed), best)
    }
}

/// Measures each node's cores with ``WorkProbe``s (the network's measure of what a miner claims):
/// every ``CapacityPolicy/interval`` seconds a node is sent a probe sized to its claimed
/// cores; its answer is checked (one hash per part) and timed from when the node was handed the
/// probe. Rewards count cores as measured (``CapacityPolicy/credited(claimed:best:)``), and a
/// node whose claim no measurement backs is warned where its operator looks (`GET /v1/nodes/{id}`).
package final class CapacityProber: Sendable {
    let store: any ProbeStore
    let registry: Registry
    let board: TaskBoard
    package let policy: CapacityPolicy
    private let now: @Sendable () -> Int64
    /// When each node was last sent a probe, the nodes with one open (this coordinator's view),
    /// and the nodes whose probes in the store were looked at once already.
    private let state = Mutex<(issued: [String: Int64], open: [String: Int64], looked: Set<String>)>(([:], [:], []))

    package init(
        store: any ProbeStore, registry: Registry, board: TaskBoard, policy: CapacityPolicy,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.registry = registry
        self.board = board
        self.policy = policy
        self.now = now
    }

    /// Expires overdue probes and sends new ones to the nodes that are due, up to the policy's
    /// concurrency.
    /// - Returns: the probes sent.
    @discardableResult
    package func round() async throws -> [ProbeRecord] {
        guard policy.interval > 0 else { return [] }
        let time = now()
        let expired = try await store.expireProbes(deadlineBefore: time)
        // Open probes: this coordinator's, until answered or expired (a lost answer frees its
        // place at the deadline).
        let room = state.withLock { state in
            for probe in expired { state.open[probe.node] = nil }
            state.open = state.open.filter { $0.value >= time - policy.deadlineSeconds }
            return max(0, policy.concurrency - state.open.count)
        }
        guard room > 0 else { return [] }
        // The nodes due, longest waiting first (never probed before all).
        var due: [(node: NodeRecord, last: Int64)] = []
        for candidate in registry.candidates(for: .hosting) {
            guard let node = registry.known(candidate.id), !registry.isSlashed(node.id) else { continue }
            let (last, open, looked) = state.withLock { ($0.issued[node.id], $0.open[node.id] != nil, $0.looked.contains(node.id)) }
            if open { continue }
            if let last {
                if last > time - policy.interval { continue }
            } else if !looked {
                // Once a node, not every round: with 100,000 nodes and 64 probes a round, every
                // round asked the store about each node still waiting (a whole core at idle).
                // (And routes it by what its probes in the window measured.)
                let settled = try await store.settledProbes(node: node.id, since: time - policy.window)
                registry.noteRoutedCores(node.id, CapacityPolicy.best(of: settled).map { policy.routed(claimed: node.cores, best: $0) })
                state.withLock { _ = $0.looked.insert(node.id) }
                if let latest = settled.max(by: { $0.issuedAt < $1.issuedAt }), latest.issuedAt >= time - policy.interval {
                    // Probed before this coordinator started: wait out the rest of the interval.
                    state.withLock { $0.issued[node.id] = latest.issuedAt }
                    continue
                }
            }
            due.append((node, last ?? .min))
        }
        var sent: [ProbeRecord] = []
        for (node, _) in due.sorted(by: { ($0.last, $0.node.id) < ($1.last, $1.node.id) }).prefix(room) {
            guard try await store.openProbes(node: node.id).isEmpty else { continue }
            var seed = [UInt8](repeating: 0, count: 16)
            var generator = SystemRandomNumberGenerator()
            for index in seed.indices { seed[index] = generator.next() }
            let probe = ProbeRecord(
                id: DeliveryClaim.newID(), node: node.id, seed: JSONText.hex(seed), parts: policy.parts(claimedCores: node.cores),
                bits: CapacityPolicy.bits, claimedCores: node.cores, issuedAt: time, deadline: time + policy.deadlineSeconds)
            try await store.addProbe(probe)
            state.withLock {
                $0.issued[node.id] = time
                $0.open[node.id] = time
            }
            board.wake(node.id)
            sent.append(probe)
        }
        return sent
    }

    /// The node's open probes, noted as handed over now (the clock starts at the first hand-over).
    package func deliver(to node: String) async throws -> [WorkProbe] {
        let open = try await store.openProbes(node: node)
        let millis = Int64(Date().timeIntervalSince1970 * 1000)
        for probe in open where probe.deliveredMillis == nil { try await store.deliverProbe(id: probe.id, atMillis: millis) }
        return open.map { WorkProbe(id: $0.id, seed: $0.seed, parts: $0.parts, bits: $0.bits, deadline: $0.deadline) }
    }

    /// A node's answer: every nonce checked, the time since hand-over turned into cores.
    /// - Throws: ``RegistryError`` for an unknown probe, another node's, or one settled already.
    package func answer(_ answer: WorkProbeAnswer, from node: String) async throws -> WorkProbeVerdict {
        let millis = Int64(Date().timeIntervalSince1970 * 1000)
        guard let probe = try await store.probe(id: answer.id), probe.node == node else {
            throw RegistryError.badRequest("node \(node) has no probe \(answer.id.prefix(40))")
        }
        guard probe.outcome == nil else { throw RegistryError.replayed("probe \(probe.id) was settled already (\(probe.outcome!.rawValue))") }
        let seed = JSONText.bytes(hex: probe.seed) ?? []
        var right = answer.nonces.count == probe.parts
        if right {
            for (part, nonce) in answer.nonces.enumerated() where !WorkProbe.accepts(seed: seed, part: part, nonce: nonce, bits: probe.bits) {
                right = false
                break
            }
        }
        let measured = right ? policy.measuredCores(parts: probe.parts, bits: probe.bits, millis: millis - (probe.deliveredMillis ?? probe.issuedAt * 1000)) : 0
        let outcome: ProbeRecord.Outcome = right ? .pass : .fail
        guard try await store.settleProbe(id: probe.id, outcome: outcome, answeredMillis: millis, measuredCores: measured) else {
            throw RegistryError.replayed("probe \(probe.id) was settled already")
        }
        state.withLock { _ = $0.open.removeValue(forKey: node) }
        let standing = try await standing(of: node)
        if let claimed = registry.known(node)?.cores { registry.noteRoutedCores(node, policy.routed(claimed: claimed, best: standing.best)) }
        return WorkProbeVerdict(outcome: outcome.rawValue, measuredCores: measured, standing: standing.warning)
    }

    /// The best measurement of a node's cores in the window (nil: never measured), and a
    /// warning when it does not back the node's claim.
    package func standing(of node: String) async throws -> (best: Double?, warning: String?) {
        let probes = try await store.settledProbes(node: node, since: now() - policy.window)
        guard let claimed = registry.known(node)?.cores, let best = CapacityPolicy.best(of: probes) else { return (nil, nil) }
        guard best < policy.tolerance * Double(claimed) else { return (best, nil) }
        let text = String(format: "%.1f", best)
        return (best, "warned: claims \(claimed) cores; capacity probes measured at most \(text) (rewards count \(text))")
    }
}
