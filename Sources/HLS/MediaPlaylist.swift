/// How a segment (and every later one, until the next key) is encrypted (`#EXT-X-KEY`).
public struct SegmentKey: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable {
        case none = "NONE"
        case aes128 = "AES-128"
        case sampleAES = "SAMPLE-AES"
    }
    public var method: Method
    public var uri: String?
    /// The 16-byte IV, when the playlist gives one; otherwise the media sequence number is the IV.
    public var iv: [UInt8]?
    public var keyFormat: String?

    public init(method: Method, uri: String?, iv: [UInt8]? = nil, keyFormat: String? = nil) {
        self.method = method
        self.uri = uri
        self.iv = iv
        self.keyFormat = keyFormat
    }
}

/// A byte range of a resource (`#EXT-X-BYTERANGE:<length>[@<offset>]`).
public struct PlaylistByteRange: Sendable, Hashable {
    public var length: Int
    /// Nil: right after the previous range of the same resource.
    public var offset: Int?

    public init(length: Int, offset: Int?) {
        self.length = length
        self.offset = offset
    }

    var rendered: String { offset.map { "\(length)@\($0)" } ?? "\(length)" }
}

/// The media initialization section (`#EXT-X-MAP`).
public struct MediaMap: Sendable, Hashable {
    public var uri: String
    public var byteRange: PlaylistByteRange?

    public init(uri: String, byteRange: PlaylistByteRange? = nil) {
        self.uri = uri
        self.byteRange = byteRange
    }
}

/// One media segment and the tags that apply to it.
public struct MediaSegmentEntry: Sendable, Hashable {
    public var duration: Double
    public var title: String
    public var uri: String
    public var byteRange: PlaylistByteRange?
    /// The key in force for this segment (nil: unencrypted).
    public var key: SegmentKey?
    public var map: MediaMap?
    /// A discontinuity comes before this segment.
    public var discontinuity: Bool

    public init(
        duration: Double, uri: String, title: String = "", byteRange: PlaylistByteRange? = nil,
        key: SegmentKey? = nil, map: MediaMap? = nil, discontinuity: Bool = false
    ) {
        self.duration = duration
        self.title = title
        self.uri = uri
        self.byteRange = byteRange
        self.key = key
        self.map = map
        self.discontinuity = discontinuity
    }
}

/// A media playlist: the segments of one rendition (RFC 8216 section 4.3.3).
public struct MediaPlaylist: Sendable, Hashable {
    public enum PlaylistType: String, Sendable, Hashable {
        case vod = "VOD"
        case event = "EVENT"
    }
    public var version: Int
    /// The longest segment, rounded to the nearest second, as the RFC requires.
    public var targetDuration: Int
    public var mediaSequence: Int
    public var playlistType: PlaylistType?
    public var independentSegments: Bool
    public var endList: Bool
    public var segments: [MediaSegmentEntry]

    public init(
        version: Int = 3, targetDuration: Int? = nil, mediaSequence: Int = 0, playlistType: PlaylistType? = nil,
        independentSegments: Bool = false, endList: Bool = false, segments: [MediaSegmentEntry]
    ) {
        self.version = version
        self.targetDuration = targetDuration ?? Int((segments.map(\.duration).max() ?? 0).rounded())
        self.mediaSequence = mediaSequence
        self.playlistType = playlistType
        self.independentSegments = independentSegments
        self.endList = endList
        self.segments = segments
    }

    /// The playlist's text. Keys and maps are written where they change; byte ranges need
    /// version 4, explicit IVs version 2 (raised automatically).
    public func render() -> String {
        var version = self.version
        if segments.contains(where: { $0.byteRange != nil || $0.map?.byteRange != nil }) { version = max(version, 4) }
        if segments.contains(where: { $0.key?.iv != nil }) { version = max(version, 2) }
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(version)", "#EXT-X-TARGETDURATION:\(targetDuration)"]
        if mediaSequence != 0 { lines.append("#EXT-X-MEDIA-SEQUENCE:\(mediaSequence)") }
        if let playlistType { lines.append("#EXT-X-PLAYLIST-TYPE:\(playlistType.rawValue)") }
        if independentSegments { lines.append("#EXT-X-INDEPENDENT-SEGMENTS") }
        var key: SegmentKey?
        var map: MediaMap?
        for segment in segments {
            if segment.discontinuity { lines.append("#EXT-X-DISCONTINUITY") }
            if segment.key != key {
                lines.append("#EXT-X-KEY:" + Self.attributes(of: segment.key ?? SegmentKey(method: .none, uri: nil)).rendered)
                key = segment.key
            }
            if let segmentMap = segment.map, segmentMap != map {
                var attributes = AttributeList()
                attributes.appendQuoted("URI", segmentMap.uri)
                if let range = segmentMap.byteRange { attributes.appendQuoted("BYTERANGE", range.rendered) }
                lines.append("#EXT-X-MAP:" + attributes.rendered)
                map = segmentMap
            }
            lines.append("#EXTINF:\(Self.format(segment.duration)),\(segment.title)")
            if let range = segment.byteRange { lines.append("#EXT-X-BYTERANGE:\(range.rendered)") }
            lines.append(segment.uri)
        }
        if endList { lines.append("#EXT-X-ENDLIST") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func attributes(of key: SegmentKey) -> AttributeList {
        var attributes = AttributeList()
        attributes.append("METHOD", key.method.rawValue)
        if let uri = key.uri { attributes.appendQuoted("URI", uri) }
        if let iv = key.iv { attributes.append("IV", "0x" + iv.map { String($0, radix: 16).leftPadded(2) }.joined()) }
        if let format = key.keyFormat { attributes.appendQuoted("KEYFORMAT", format) }
        return attributes
    }

    /// Durations with millisecond precision and no trailing zeros (`4`, `3.967`).
    static func format(_ duration: Double) -> String {
        let millis = Int((duration * 1000).rounded())
        let whole = millis / 1000, fraction = millis % 1000
        guard fraction != 0 else { return "\(whole).000" }
        return "\(whole)." + String(fraction).leftPadded(3)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
