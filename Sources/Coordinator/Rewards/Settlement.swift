import Crypto
import DePINProtocol
import Foundation

/// One miner's share of an epoch's pool, with the path that proves it against the epoch's root.
package struct Payout: Codable, Sendable, Equatable {
    package var miner: String
    package var points: Double
    /// Base units (1 DHB = 10^8).
    package var amount: Int64
    package var proof: MerkleProof

    package init(miner: String, points: Double, amount: Int64, proof: MerkleProof) {
        self.miner = miner
        self.points = points
        self.amount = amount
        self.proof = proof
    }
}

/// The whitepaper's reward formula, made sound (DESIGN.md, "Rewards"):
/// `points = Σ task weight x resource score x verified volume (GB) x quality`, with weights
/// hosting 1.5, transcoding 2.0, delivery 1.0 and resource score `0.4 cores + 0.3 Mbps + 0.3 GB
/// RAM`; each miner gets `pool x points / all points` rounded down in base units, and what
/// rounding leaves is carried to the next epoch, so payouts plus the carry equal the pool
/// exactly and nothing is minted.
///
/// - Bandwidth counts as measured: what the receipts showed (none without receipts), never more
///   than the miner claimed.
/// - Cores count as capacity probes measured them (``CapacityPolicy``), never more than claimed.
/// - Delivery volume is what receipts back; hosting volume is the bytes hosted times the share
///   of the epoch's challenges passed, times the reputation; transcoding volume is the bytes of
///   rendition segments that passed a transcode audit or were not sampled for one.
/// - Points are fixed-point (micro-points) and the division is exact 128-bit integer
///   arithmetic, so settlement is deterministic: the same inputs give the same payouts and root.
package enum Settlement {
    package static let weights: [DeviceClass.Task: Double] = [.hosting: 1.5, .transcoding: 2.0, .delivery: 1.0]

    package static func resourceScore(cores: Double, mbps: Double, ramGB: Double) -> Double {
        0.4 * max(0, cores) + 0.3 * max(0, mbps) + 0.3 * max(0, ramGB)
    }

    /// The resource score of what a miner showed: credited cores, measured bandwidth (never
    /// more than claimed), RAM.
    package static func resourceScore(_ inputs: MinerInputs) -> Double {
        resourceScore(
            cores: min(Double(inputs.cores), inputs.coresCredited ?? Double(inputs.cores)), mbps: min(inputs.mbpsClaimed, inputs.mbpsMeasured ?? 0),
            ramGB: inputs.ramGB)
    }

    /// A miner's points for its inputs.
    package static func points(_ inputs: MinerInputs) -> Double {
        let score = resourceScore(inputs)
        let delivered = Double(max(0, inputs.deliveredBytes)) / 1e9
        let passedShare = inputs.challengesTotal > 0 ? Double(inputs.challengesPassed) / Double(inputs.challengesTotal) : 0
        let hosted = Double(max(0, inputs.hostedBytes)) / 1e9 * passedShare * min(1, max(0, inputs.reputation))
        let transcoded = Double(max(0, inputs.transcodedBytes ?? 0)) / 1e9
        return weights[.delivery]! * score * delivered + weights[.hosting]! * score * hosted + weights[.transcoding]! * score * transcoded
    }

    /// Splits `pool` over the miners by their points.
    /// - Returns: payouts (miners with no points get none), the Merkle root over them, and the
    ///   carry; `payouts.sum + carry == pool`.
    package static func settle(epoch: Int64, pool: Int64, inputs: [MinerInputs]) -> (payouts: [Payout], root: [UInt8], carry: Int64) {
        let scored = inputs.sorted { $0.miner < $1.miner }.map { ($0.miner, points($0)) }.filter { $0.1 > 0 && $0.1.isFinite }
        let micro = scored.map { UInt64(min($0.1 * 1e6, 9e15)) }
        let total = micro.reduce(UInt64(0), +)
        var amounts: [Int64] = []
        if total > 0, pool > 0 {
            for share in micro {
                let product = UInt64(pool).multipliedFullWidth(by: share)
                amounts.append(Int64(total.dividingFullWidth(product).quotient))
            }
        } else {
            amounts = micro.map { _ in 0 }
        }
        let leaves = zip(scored, amounts).map { MerkleTree.leafHash(Array(leaf(epoch: epoch, miner: $0.0, amount: $1).utf8)) }
        let tree = MerkleTree(leafHashes: leaves.isEmpty ? [MerkleTree.leafHash(Array("DEPIN-PAYOUT-1\n\(epoch)\nnone".utf8))] : leaves)
        let payouts = zip(scored, amounts).enumerated().map { index, pair in
            Payout(miner: pair.0.0, points: pair.0.1, amount: pair.1, proof: tree.proof(chunk: index)!)
        }
        let paid = amounts.reduce(0, +)
        assert(paid <= pool, "Settlement paid \(paid) of a pool of \(pool)")
        return (payouts, tree.root, pool - paid)
    }

    /// The bytes a payout's leaf hashes.
    package static func leaf(epoch: Int64, miner: String, amount: Int64) -> String { "DEPIN-PAYOUT-1\n\(epoch)\n\(miner)\n\(amount)" }

    /// True when `payout` is in the epoch whose payout root is `root`.
    package static func verifies(_ payout: Payout, epoch: Int64, root: [UInt8]) -> Bool {
        payout.proof.verifies(leafHash: MerkleTree.leafHash(Array(leaf(epoch: epoch, miner: payout.miner, amount: payout.amount).utf8)), root: root)
    }
}
