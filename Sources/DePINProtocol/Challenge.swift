/// A proof-of-retrievability challenge: the coordinator names a hosted title, one of its
/// segments and one 64 KiB chunk of that segment's ciphertext, chosen at random when it is
/// issued; the host answers before ``deadline`` with the chunk and its Merkle path, which the
/// coordinator checks against the manifest's root. An honest host reads one chunk; a host that
/// dropped the segment cannot answer.
public struct Challenge: Codable, Sendable, Equatable {
    /// 32 lowercase hex digits.
    public var id: String
    public var content: String
    public var segment: Int
    public var chunk: Int
    /// Seconds since 1970 by which the answer must arrive.
    public var deadline: Int64

    public init(id: String, content: String, segment: Int, chunk: Int, deadline: Int64) {
        self.id = id
        self.content = content
        self.segment = segment
        self.chunk = chunk
        self.deadline = deadline
    }
}

/// `POST /v1/challenges` (signed): a host's answer.
public struct ChallengeResponse: Codable, Sendable, Equatable, KnownFields {
    public var id: String
    /// The chunk, base64.
    public var data: String
    public var proof: MerkleProof

    public static let knownFields: Set<String> = ["id", "data", "proof"]
    /// A chunk in base64 with its path fits in this.
    public static let maxBytes = 128 * 1024

    public init(id: String, data: String, proof: MerkleProof) {
        self.id = id
        self.data = data
        self.proof = proof
    }
}

/// The coordinator's verdict on an answer, and where the host now stands.
public struct ChallengeVerdict: Codable, Sendable, Equatable {
    /// `pass`, `fail` or `late`.
    public var outcome: String
    public var reputation: Double
    /// What the operator should know (a warning, a suspension), if anything.
    public var standing: String?

    public init(outcome: String, reputation: Double, standing: String?) {
        self.outcome = outcome
        self.reputation = reputation
        self.standing = standing
    }
}
