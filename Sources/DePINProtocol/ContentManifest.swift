
/// What `depin publish` wrote for one title: its source rendition, every segment's length and
/// hashes, and the ladder that edges may derive. Hosts prove storage against the Merkle roots;
/// edges check what they fetch against the SHA-256s; transcoders read the ladder and settings.
///
/// Versioned: a reader refuses a manifest newer than it understands.
public struct ContentManifest: Codable, Sendable, Hashable {
    public static let currentVersion = 1
    /// The rendition folder of the published source.
    public static let sourceRendition = "source"

    public var version: Int
    public var id: String
    /// Seconds since 1970.
    public var createdAt: Int64
    /// The target segment length the source was cut to, seconds.
    public var segmentSeconds: Double
    public var source: Source
    public var encryption: Encryption
    public var segments: [Segment]
    /// Renditions edges may make on demand; none taller than the source.
    public var ladder: [Rendition]
    /// Encoder settings every transcode of this title uses, so outputs can be compared.
    public var transcode: EncoderSettings
    /// Ladder renditions made when the title was (a live stream's recording): per rendition
    /// name, its segments like ``segments``. Hosts keep them as they keep the source, and edges
    /// serve them instead of transcoding. Absent for `depin publish`'s titles.
    public var renditionSegments: [String: [Segment]]?

    public struct Source: Codable, Sendable, Hashable {
        public var width: Int
        public var height: Int
        public var frameRate: Double
        /// RFC 6381 codecs (`avc1.640028,mp4a.40.2`).
        public var codecs: String
        public var hasAudio: Bool
        /// Peak and average bits per second over the segments.
        public var bandwidth: Int
        public var averageBandwidth: Int
        /// How the source was made from the input: `copied` or `re-encoded`.
        public var video: String
        public var audio: String?

        public init(
            width: Int, height: Int, frameRate: Double, codecs: String, hasAudio: Bool, bandwidth: Int,
            averageBandwidth: Int, video: String, audio: String?
        ) {
            self.width = width
            self.height = height
            self.frameRate = frameRate
            self.codecs = codecs
            self.hasAudio = hasAudio
            self.bandwidth = bandwidth
            self.averageBandwidth = averageBandwidth
            self.video = video
            self.audio = audio
        }
    }

    public struct Encryption: Codable, Sendable, Hashable {
        /// `AES-128` (HLS full-segment AES-128-CBC with PKCS#7).
        public var method: String
        /// `media-sequence`: each segment's IV is its index, big-endian, as HLS does by default.
        public var iv: String

        public init(method: String = "AES-128", iv: String = "media-sequence") {
            self.method = method
            self.iv = iv
        }
    }

    public struct Segment: Codable, Sendable, Hashable {
        public var index: Int
        /// Seconds.
        public var duration: Double
        /// Ciphertext length in bytes.
        public var length: Int
        /// SHA-256 of the ciphertext, hex.
        public var sha256: String
        /// Merkle root over the ciphertext's 64 KiB chunks, hex.
        public var merkleRoot: String

        public init(index: Int, duration: Double, length: Int, sha256: String, merkleRoot: String) {
            self.index = index
            self.duration = duration
            self.length = length
            self.sha256 = sha256
            self.merkleRoot = merkleRoot
        }
    }

    public init(
        id: String, createdAt: Int64, segmentSeconds: Double, source: Source, encryption: Encryption = .init(),
        segments: [Segment], ladder: [Rendition], transcode: EncoderSettings
    ) {
        self.version = Self.currentVersion
        self.id = id
        self.createdAt = createdAt
        self.segmentSeconds = segmentSeconds
        self.source = source
        self.encryption = encryption
        self.segments = segments
        self.ladder = ladder
        self.transcode = transcode
    }

    /// The encoder settings `depin publish` uses unless told otherwise.
    public static var defaultTranscodeSettings: EncoderSettings { EncoderSettings() }

    /// The ladder rendition called `name`, if the manifest lists it.
    public func rendition(named name: String) -> Rendition? { ladder.first { $0.name == name } }

    /// Every file a host keeps of the title, in upload order: the manifest first, then the
    /// playlists, the source segments last.
    public var hostedFiles: [String] {
        ["manifest.json", "master.m3u8", "\(Self.sourceRendition)/index.m3u8"]
            + ladder.map { "\($0.name)/index.m3u8" }
            + segments.map { "\(Self.sourceRendition)/\($0.index).ts" }
            + ladder.flatMap { rendition in (renditionSegments?[rendition.name] ?? []).map { "\(rendition.name)/\($0.index).ts" } }
    }

    /// The segment a hosted path names (`source/{n}.ts`, or `{rendition}/{n}.ts` of a rendition
    /// made with the title), if the manifest lists it.
    public func segment(atPath path: String) -> Segment? {
        let pieces = path.split(separator: "/")
        guard pieces.count == 2, pieces[1].hasSuffix(".ts"), let index = Int(pieces[1].dropLast(3)), index >= 0 else { return nil }
        let list = pieces[0] == Self.sourceRendition ? segments : renditionSegments?[String(pieces[0])]
        guard let list, index < list.count, list[index].index == index else { return nil }
        return list[index]
    }

    /// Checks what a reader relies on: the version, ids, segment numbering, sizes and hashes.
    /// - Throws: ``ProtocolError`` naming the first problem.
    public func validate() throws {
        guard version <= Self.currentVersion, version >= 1 else {
            throw ProtocolError.invalid("manifest version \(version) is not understood (this build reads up to \(Self.currentVersion))")
        }
        guard Identifier.isValid(id) else { throw ProtocolError.invalid("manifest id '\(id)' \(Identifier.rule)") }
        guard encryption.method == "AES-128", encryption.iv == "media-sequence" else {
            throw ProtocolError.invalid("manifest encryption \(encryption.method)/\(encryption.iv) is not AES-128/media-sequence")
        }
        guard !segments.isEmpty else { throw ProtocolError.invalid("manifest lists no segments") }
        for (position, segment) in segments.enumerated() {
            guard segment.index == position else {
                throw ProtocolError.invalid("manifest segment \(position) is numbered \(segment.index)")
            }
            guard segment.length > 0, segment.length % 16 == 0, segment.duration > 0, segment.duration < 600,
                segment.sha256.count == 64, segment.merkleRoot.count == 64
            else {
                throw ProtocolError.invalid("manifest segment \(position) has a bad length, duration or hash")
            }
        }
        for rendition in ladder {
            do { try rendition.validate() } catch { throw ProtocolError.invalid("manifest ladder: \(error)") }
            guard rendition.height < source.height, rendition.name != Self.sourceRendition else {
                throw ProtocolError.invalid("manifest ladder: \(rendition.name) is not shorter than the source")
            }
        }
        do { try transcode.validate() } catch { throw ProtocolError.invalid("manifest transcode settings: \(error)") }
        for (name, list) in renditionSegments ?? [:] {
            guard rendition(named: name) != nil else { throw ProtocolError.invalid("manifest lists segments of \(name), which is not in its ladder") }
            guard list.count == segments.count else {
                throw ProtocolError.invalid("manifest rendition \(name) has \(list.count) segments; the source has \(segments.count)")
            }
            for (position, segment) in list.enumerated() {
                guard segment.index == position, segment.length > 0, segment.length % 16 == 0, segment.sha256.count == 64, segment.merkleRoot.count == 64,
                    abs(segment.duration - segments[position].duration) < 0.01
                else {
                    throw ProtocolError.invalid("manifest rendition \(name) segment \(position) has a bad index, length, hash or duration")
                }
            }
        }
    }
}

/// Content ids and other names that travel in URLs and paths.
public enum Identifier {
    public static let rule = "must be 1 to 64 letters, digits, '_' or '-'"

    public static func isValid(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 }
    }
}

/// Why a wire message was refused.
public struct ProtocolError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }

    public static func invalid(_ what: String) -> Self { .init(message: what) }
}
