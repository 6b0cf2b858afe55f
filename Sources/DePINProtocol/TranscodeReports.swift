/// One rendition segment an edge made, as it reports it: the SHA-256 commits it to the bytes it
/// serves, so an audit that repeats the transcode elsewhere can prove it right or wrong.
public struct MadeRendition: Codable, Sendable, Equatable, Hashable, ChecksItsFields {
    public var content: String
    public var rendition: String
    public var segment: Int
    /// Bytes of the encrypted segment, as served.
    public var bytes: Int64
    /// SHA-256 of the encrypted segment, lowercase hex.
    public var sha256: String

    public static let knownFields: Set<String> = ["content", "rendition", "segment", "bytes", "sha256"]

    public init(content: String, rendition: String, segment: Int, bytes: Int64, sha256: String) {
        self.content = content
        self.rendition = rendition
        self.segment = segment
        self.bytes = bytes
        self.sha256 = sha256
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try StrictJSON.refuseUnknown(Self.self, in: container.allKeys.map(\.stringValue))
        func key(_ name: String) -> AnyKey { AnyKey(stringValue: name) }
        content = try container.decode(String.self, forKey: key("content"))
        rendition = try container.decode(String.self, forKey: key("rendition"))
        segment = try container.decode(Int.self, forKey: key("segment"))
        bytes = try container.decode(Int64.self, forKey: key("bytes"))
        sha256 = try container.decode(String.self, forKey: key("sha256"))
    }

    private enum CodingKeys: String, CodingKey { case content, rendition, segment, bytes, sha256 }
}

/// `POST /v1/transcodes` (signed): rendition segments an edge made, at most ``maxReports``.
public struct TranscodeReportBatch: Codable, Sendable, Equatable, ChecksItsFields {
    public var made: [MadeRendition]

    public static let knownFields: Set<String> = ["made"]
    public static let maxReports = 1000
    public static let maxBytes = 256 * 1024

    public init(made: [MadeRendition]) { self.made = made }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try StrictJSON.refuseUnknown(Self.self, in: container.allKeys.map(\.stringValue))
        made = try container.decode([MadeRendition].self, forKey: AnyKey(stringValue: "made"))
    }

    private enum CodingKeys: String, CodingKey { case made }
}

/// The coordinator's answer: how many reports it took, and why it refused the others.
public struct TranscodeReportAnswer: Codable, Sendable, Equatable {
    public struct Refusal: Codable, Sendable, Equatable {
        public var index: Int
        public var reason: String

        public init(index: Int, reason: String) {
            self.index = index
            self.reason = reason
        }
    }
    /// Reports recorded (a report already recorded counts as taken, once).
    public var accepted: Int
    public var refused: [Refusal]

    public init(accepted: Int, refused: [Refusal]) {
        self.accepted = accepted
        self.refused = refused
    }
}
