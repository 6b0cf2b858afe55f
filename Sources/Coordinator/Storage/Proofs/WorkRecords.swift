/// A capacity probe (``WorkProbe``) as the coordinator keeps it.
package struct ProbeRecord: Sendable, Equatable {
    package enum Outcome: String, Sendable, CaseIterable {
        /// Every nonce right, before the deadline.
        case pass
        /// A wrong nonce, or the wrong number of them.
        case fail
        /// No answer by the deadline.
        case offline
    }
    package var id: String
    package var node: String
    /// 16 random bytes, hex.
    package var seed: String
    package var parts: Int
    package var bits: Int
    /// The cores the node claimed when the probe was sized.
    package var claimedCores: Int
    package var issuedAt: Int64
    package var deadline: Int64
    /// When the probe was first handed to the node, and when its answer came (milliseconds since 1970).
    package var deliveredMillis: Int64?
    package var outcome: Outcome?
    package var answeredMillis: Int64?
    /// Reference cores the answer showed (0 for a failed or missed probe).
    package var measuredCores: Double?

    package init(
        id: String, node: String, seed: String, parts: Int, bits: Int, claimedCores: Int, issuedAt: Int64, deadline: Int64,
        deliveredMillis: Int64? = nil, outcome: Outcome? = nil, answeredMillis: Int64? = nil, measuredCores: Double? = nil
    ) {
        self.id = id
        self.node = node
        self.seed = seed
        self.parts = parts
        self.bits = bits
        self.claimedCores = claimedCores
        self.issuedAt = issuedAt
        self.deadline = deadline
        self.deliveredMillis = deliveredMillis
        self.outcome = outcome
        self.answeredMillis = answeredMillis
        self.measuredCores = measuredCores
    }
}

/// One rendition segment an edge says it made, with the SHA-256 of what it serves.
package struct TranscodeReport: Sendable, Equatable {
    package enum Status: String, Sendable, CaseIterable {
        /// Picked for an audit that has not run yet: earns nothing until it passes.
        case sampled
        /// Not picked for an audit: earns.
        case unsampled
        /// Matched another edge's output: earns.
        case passed
        /// Disagreed with two other edges' output, or left undecided: earns nothing.
        case failed
        /// Voided because its edge lied in an audit.
        case forfeit
    }
    package var node: String
    package var content: String
    package var rendition: String
    package var segment: Int
    package var bytes: Int64
    /// Lowercase hex.
    package var sha256: String
    package var reportedAt: Int64
    package var status: Status
    package var decidedAt: Int64?

    package init(
        node: String, content: String, rendition: String, segment: Int, bytes: Int64, sha256: String, reportedAt: Int64, status: Status,
        decidedAt: Int64? = nil
    ) {
        self.node = node
        self.content = content
        self.rendition = rendition
        self.segment = segment
        self.bytes = bytes
        self.sha256 = sha256
        self.reportedAt = reportedAt
        self.status = status
        self.decidedAt = decidedAt
    }
}

/// A proof-of-retrievability challenge as the coordinator keeps it.
package struct ChallengeRecord: Sendable, Equatable {
    package enum Outcome: String, Sendable, CaseIterable {
        /// The chunk and its path matched the manifest's root in time.
        case pass
        /// An answer that does not match.
        case fail
        /// A matching answer after the deadline.
        case late
        /// No answer by the deadline.
        case offline
    }
    package var id: String
    package var node: String
    package var content: String
    package var segment: Int
    package var chunk: Int
    package var issuedAt: Int64
    package var deadline: Int64
    package var outcome: Outcome?
    package var answeredAt: Int64?

    package init(
        id: String, node: String, content: String, segment: Int, chunk: Int, issuedAt: Int64, deadline: Int64, outcome: Outcome? = nil,
        answeredAt: Int64? = nil
    ) {
        self.id = id
        self.node = node
        self.content = content
        self.segment = segment
        self.chunk = chunk
        self.issuedAt = issuedAt
        self.deadline = deadline
        self.outcome = outcome
        self.answeredAt = answeredAt
    }
}
