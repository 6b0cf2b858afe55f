import Crypto
import DePINProtocol
import Foundation

extension EpochReport {
    /// One miner's payout in this epoch and every input behind it (`GET
    /// /v1/epochs/{n}/miners/{id}`, `depin rewards explain`, the dashboard's miner page), or nil
    /// when the miner did no measured work in it.
    package func explanation(of miner: String) -> MinerExplanation? {
        guard let inputs = inputs.first(where: { $0.miner == miner }) else { return nil }
        let payout = payouts.first { $0.miner == miner }
        return MinerExplanation(
            epoch: epoch, pool: pool, totalPoints: totalPoints, root: root, signature: signature, inputs: inputs,
            resourceScore: Settlement.resourceScore(inputs), points: Settlement.points(inputs), amount: payout?.amount ?? 0, proof: payout?.proof)
    }
}

/// A payout explained term by term, in the words `depin rewards explain` prints and the
/// dashboard shows: one text for both, so they can never disagree.
package enum PayoutExplanation {
    /// The lines before the proof's.
    package static func terms(_ explanation: MinerExplanation) -> [String] {
        let inputs = explanation.inputs
        let measured = inputs.coresMeasured.map { String(format: "%.1f measured by capacity probes", $0) } ?? "no capacity probe yet"
        let credited = String(format: "%.1f", min(Double(inputs.cores), inputs.coresCredited ?? Double(inputs.cores)))
        return [
            "epoch \(explanation.epoch), miner \(inputs.miner) (\(inputs.deviceClass))",
            "  resources: \(inputs.cores) cores claimed, \(measured), \(credited) counted; \(inputs.ramGB) GB RAM",
            "  bandwidth: \(inputs.mbpsClaimed) Mbps claimed, \(inputs.mbpsMeasured.map { String(format: "%.1f", $0) } ?? "none") Mbps shown by receipts",
            String(format: "  resource score %.3f", explanation.resourceScore),
            "  delivered with receipts: \(inputs.deliveredBytes) bytes (weight 1.0)",
            "  hosted: \(inputs.hostedBytes) bytes, challenges passed \(inputs.challengesPassed) of \(inputs.challengesTotal), reputation \(String(format: "%.2f", inputs.reputation)) (weight 1.5)",
            "  transcoded, audited or not sampled: \(inputs.transcodedBytes ?? 0) bytes (weight 2.0)",
            String(format: "  points %.4f of %.4f in all", explanation.points, explanation.totalPoints),
            "  payout \(dhb(explanation.amount)) DHB of a pool of \(dhb(explanation.pool)) DHB",
        ]
    }

    /// Whether the payout's Merkle proof leads to the report's root, and whether `key` signed
    /// that root (`key` nil: not known, so not signed).
    package struct ProofCheck: Sendable, Equatable {
        /// Nil: no payout, so no proof.
        package var inTree: Bool?
        package var signed: Bool
        package var valid: Bool { inTree == true && signed }
    }

    package static func check(_ explanation: MinerExplanation, key: Curve25519.Signing.PublicKey?) -> ProofCheck {
        guard let proof = explanation.proof, let root = JSONText.bytes(hex: explanation.root) else { return ProofCheck(inTree: nil, signed: false) }
        let payout = Payout(miner: explanation.inputs.miner, points: explanation.points, amount: explanation.amount, proof: proof)
        let inTree = Settlement.verifies(payout, epoch: explanation.epoch, root: root)
        var signed = false
        if let key, let signature = Data(base64Encoded: explanation.signature) {
            signed = key.isValidSignature(signature, for: Data("DEPIN-EPOCH-1\n\(explanation.epoch)\n\(explanation.pool)\n\(explanation.root)".utf8))
        }
        return ProofCheck(inTree: inTree, signed: signed)
    }

    /// The proof's line.
    package static func proofLine(_ explanation: MinerExplanation, _ check: ProofCheck) -> String {
        guard let inTree = check.inTree else { return "  no payout, so no proof" }
        return "  Merkle proof against root \(explanation.root.prefix(16))...: \(inTree ? "valid" : "INVALID"); root signed by the coordinator: \(check.signed ? "yes" : "NO")"
    }

    /// Base units as DHB with all eight decimals.
    package static func dhb(_ units: Int64) -> String {
        String(format: "%lld.%08lld", units / DeviceClass.baseUnitsPerDHB, units % DeviceClass.baseUnitsPerDHB)
    }
}
