/// What one miner did in an epoch, as the coordinator measured it: the inputs of its reward.
package struct MinerInputs: Codable, Sendable, Equatable {
    package var miner: String
    package var deviceClass: String
    /// Cores the miner claimed, the most a capacity probe measured (reference cores; nil:
    /// never measured), and the cores its reward counts (``CapacityPolicy/credited(claimed:best:)``;
    /// nil in reports from before probes, which counted the claim).
    package var cores: Int
    package var coresMeasured: Double?
    package var coresCredited: Double?
    package var ramGB: Double
    /// Bandwidth the miner claimed at registration, and the most its receipts showed (bits
    /// per second / 10^6), if it delivered anything.
    package var mbpsClaimed: Double
    package var mbpsMeasured: Double?
    /// Bytes of accepted delivery claims (receipts) in the epoch.
    package var deliveredBytes: Int64
    /// Bytes of the titles it held whole in the epoch, and its challenges there.
    package var hostedBytes: Int64
    /// Bytes of rendition segments it made that passed an audit or were not sampled (nil in
    /// reports from before transcodes earned).
    package var transcodedBytes: Int64?
    package var challengesPassed: Int
    package var challengesTotal: Int
    /// Its proof-of-retrievability reputation at the epoch's end (0 to 1).
    package var reputation: Double

    package init(
        miner: String, deviceClass: String, cores: Int, ramGB: Double, mbpsClaimed: Double, mbpsMeasured: Double?, deliveredBytes: Int64,
        hostedBytes: Int64, transcodedBytes: Int64 = 0, challengesPassed: Int, challengesTotal: Int, reputation: Double, coresMeasured: Double? = nil,
        coresCredited: Double? = nil
    ) {
        self.miner = miner
        self.deviceClass = deviceClass
        self.cores = cores
        self.coresMeasured = coresMeasured
        self.coresCredited = coresCredited ?? Double(cores)
        self.transcodedBytes = transcodedBytes
        self.ramGB = ramGB
        self.mbpsClaimed = mbpsClaimed
        self.mbpsMeasured = mbpsMeasured
        self.deliveredBytes = deliveredBytes
        self.hostedBytes = hostedBytes
        self.challengesPassed = challengesPassed
        self.challengesTotal = challengesTotal
        self.reputation = reputation
    }
}

/// `GET /v1/epochs/{n}/miners/{id}`: one payout and every input behind it.
package struct MinerExplanation: Codable {
    package var epoch: Int64
    package var pool: Int64
    package var totalPoints: Double
    package var root: String
    package var signature: String
    package var inputs: MinerInputs
    package var resourceScore: Double
    package var points: Double
    package var amount: Int64
    package var proof: MerkleProof?

    package init(
        epoch: Int64, pool: Int64, totalPoints: Double, root: String, signature: String, inputs: MinerInputs, resourceScore: Double, points: Double,
        amount: Int64, proof: MerkleProof?
    ) {
        self.epoch = epoch
        self.pool = pool
        self.totalPoints = totalPoints
        self.root = root
        self.signature = signature
        self.inputs = inputs
        self.resourceScore = resourceScore
        self.points = points
        self.amount = amount
        self.proof = proof
    }
}
