/// `POST /v1/live` (admin): a live title about to stream, its content key, and where its ingest is.
package struct LiveRegistration: Codable, KnownFields {
    package var id: String
    /// base64 of the 16-byte AES-128 content key the ingest encrypts with.
    package var key: String
    /// Where the ingest runs: hosts are chosen near it.
    package var latitude: Double
    package var longitude: Double
    package static let knownFields: Set<String> = ["id", "key", "latitude", "longitude"]

    package init(id: String, key: String, latitude: Double, longitude: Double) {
        self.id = id
        self.key = key
        self.latitude = latitude
        self.longitude = longitude
    }
}

/// The answer to `POST /v1/live`: the stream key a pusher must give (shown once; the coordinator
/// keeps only its hash) and the hosting edges, each with its upload token.
public struct LiveRegistrationAnswer: Codable, Sendable, Equatable {
    public var id: String
    public var streamKey: String
    public var hosts: [ContentRegistrationAnswer.Host]

    public init(id: String, streamKey: String, hosts: [ContentRegistrationAnswer.Host]) {
        self.id = id
        self.streamKey = streamKey
        self.hosts = hosts
    }
}

/// `POST /v1/live/{id}/check` (admin): is this the title's stream key now?
package struct StreamKeyCheck: Codable, KnownFields {
    package var streamKey: String
    package static let knownFields: Set<String> = ["streamKey"]

    package init(streamKey: String) { self.streamKey = streamKey }
}

/// `POST /v1/live/{id}/hosts` (admin): another host, none of `exclude` (the ones that went away).
package struct LiveHostRequest: Codable, KnownFields {
    /// Hosts not to choose (those that went away, and those pushed to already).
    package var exclude: [String]
    /// The hosts that went away: they no longer count as the title's hosts (absent: all of
    /// `exclude`, as before this field).
    package var gone: [String]?
    package static let knownFields: Set<String> = ["exclude", "gone"]

    package init(exclude: [String], gone: [String]? = nil) {
        self.exclude = exclude
        self.gone = gone
    }
}

/// `POST /v1/live/{id}/end` (admin): the stream ended; its recording, when there is one,
/// becomes a published title (the answer is then `POST /v1/contents`'s).
package struct LiveEnd: Codable, KnownFields {
    package var recording: ContentManifest?
    package static let knownFields: Set<String> = ["recording"]

    package init(recording: ContentManifest?) { self.recording = recording }
}

/// Stream keys: what a pusher gives, and what the coordinator keeps of it.
public enum StreamKey {
    /// 24 letters and digits (about 140 bits), usable as an RTMP stream name and an SRT passphrase.
    public static func make() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }

    /// 16 to 64 letters, digits, '_' or '-' (within SRT's passphrase limits of 10 to 79).
    public static func isValid(_ key: String) -> Bool { key.utf8.count >= 16 && Identifier.isValid(key) }
}
