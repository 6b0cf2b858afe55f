import Foundation

/// A live media playlist with Low-Latency HLS (RFC 8216bis): a sliding window of segments, the
/// parts of the newest ones, the part in progress as a preload hint, and the other renditions'
/// newest parts. Written by `depin live`; read back by ``parse(_:)`` (tests, and edges that
/// need to know how far a live playlist has got).
public struct LivePlaylist: Sendable, Hashable {
    public struct Part: Sendable, Hashable {
        public var duration: Double
        public var uri: String
        public var independent: Bool

        public init(duration: Double, uri: String, independent: Bool) {
            self.duration = duration
            self.uri = uri
            self.independent = independent
        }
    }

    public struct Segment: Sendable, Hashable {
        public var sequence: Int
        public var duration: Double
        public var uri: String
        /// When its first frame was taken in (`EXT-X-PROGRAM-DATE-TIME`).
        public var programDateTime: Date
        public var discontinuity: Bool
        /// Its parts; empty once it is older than the parts are kept for.
        public var parts: [Part]

        public init(sequence: Int, duration: Double, uri: String, programDateTime: Date, discontinuity: Bool, parts: [Part]) {
            self.sequence = sequence
            self.duration = duration
            self.uri = uri
            self.programDateTime = programDateTime
            self.discontinuity = discontinuity
            self.parts = parts
        }
    }

    /// `EXT-X-RENDITION-REPORT`: how far another rendition has got.
    public struct RenditionReport: Sendable, Hashable {
        public var uri: String
        public var lastSequence: Int
        public var lastPart: Int

        public init(uri: String, lastSequence: Int, lastPart: Int) {
            self.uri = uri
            self.lastSequence = lastSequence
            self.lastPart = lastPart
        }
    }

    public var targetDuration: Int
    public var partTarget: Double
    /// `PART-HOLD-BACK`: how far behind the live edge a player starts (at least 3 part targets).
    public var partHoldBack: Double
    public var discontinuitySequence: Int
    public var key: SegmentKey?
    /// Complete segments, oldest first; the first one's sequence is the media sequence.
    public var segments: [Segment]
    /// The segment in progress: its number, its finished parts and whether it follows a break.
    public var pendingSequence: Int
    public var pendingParts: [Part]
    public var pendingDiscontinuity: Bool
    public var pendingProgramDateTime: Date?
    /// `EXT-X-PRELOAD-HINT:TYPE=PART`: the part being made.
    public var preloadHint: String?
    public var reports: [RenditionReport]
    public var endList: Bool
    /// `CAN-SKIP-UNTIL`: the skip boundary in seconds, when delta updates are offered.
    public var canSkipUntil: Double?
    /// In a delta update, how many segments before ``segments`` `EXT-X-SKIP` stands for.
    public var skippedSegments = 0

    public init(
        targetDuration: Int, partTarget: Double, partHoldBack: Double? = nil, discontinuitySequence: Int = 0,
        key: SegmentKey? = nil, segments: [Segment] = [], pendingSequence: Int = 0, pendingParts: [Part] = [],
        pendingDiscontinuity: Bool = false, pendingProgramDateTime: Date? = nil, preloadHint: String? = nil,
        reports: [RenditionReport] = [], endList: Bool = false, canSkipUntil: Double? = nil
    ) {
        self.targetDuration = targetDuration
        self.partTarget = partTarget
        self.partHoldBack = partHoldBack ?? partTarget * 3
        self.discontinuitySequence = discontinuitySequence
        self.key = key
        self.segments = segments
        self.pendingSequence = pendingSequence
        self.pendingParts = pendingParts
        self.pendingDiscontinuity = pendingDiscontinuity
        self.pendingProgramDateTime = pendingProgramDateTime
        self.preloadHint = preloadHint
        self.reports = reports
        self.endList = endList
        self.canSkipUntil = canSkipUntil
    }

    /// The media sequence number: the first segment's (counting any skipped), or the pending
    /// one's while there is none.
    public var mediaSequence: Int { (segments.first?.sequence ?? pendingSequence) - skippedSegments }

    /// This playlist as a delta update (RFC 8216bis 6.2.5.1, `_HLS_skip=YES`): the segments
    /// wholly more than ``canSkipUntil`` seconds before its end (the parts made since the last
    /// segment count) left out and counted in `EXT-X-SKIP`. Nil when it offers no delta updates
    /// or has ended; itself when there is nothing to skip.
    public func delta() -> LivePlaylist? {
        guard let boundary = canSkipUntil, !endList, skippedSegments == 0 else { return nil }
        var toEnd = pendingParts.reduce(0) { $0 + $1.duration }
        var skip = 0
        for index in segments.indices.reversed() {
            if toEnd > boundary {
                skip = index + 1
                break
            }
            toEnd += segments[index].duration
        }
        var delta = self
        delta.segments.removeFirst(skip)
        delta.skippedSegments = skip
        return delta
    }

    /// The newest part listed: (segment, part), nil before the first.
    public var lastPart: (sequence: Int, part: Int)? {
        if !pendingParts.isEmpty { return (pendingSequence, pendingParts.count - 1) }
        guard let last = segments.last, !last.parts.isEmpty else { return nil }
        return (last.sequence, last.parts.count - 1)
    }

    public func render() -> String {
        var lines = [
            // EXT-X-SKIP needs version 9.
            "#EXTM3U", "#EXT-X-VERSION:\(skippedSegments > 0 ? 9 : 6)", "#EXT-X-TARGETDURATION:\(targetDuration)",
        ]
        if !endList {
            let skipping = canSkipUntil.map { ",CAN-SKIP-UNTIL=\(MediaPlaylist.format($0))" } ?? ""
            lines.append("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=\(MediaPlaylist.format(partHoldBack))" + skipping)
        }
        lines.append("#EXT-X-PART-INF:PART-TARGET=\(MediaPlaylist.format(partTarget))")
        lines.append("#EXT-X-MEDIA-SEQUENCE:\(mediaSequence)")
        if discontinuitySequence > 0 { lines.append("#EXT-X-DISCONTINUITY-SEQUENCE:\(discontinuitySequence)") }
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
        if let key { lines.append("#EXT-X-KEY:" + MediaPlaylist.attributes(of: key).rendered) }
        if skippedSegments > 0 { lines.append("#EXT-X-SKIP:SKIPPED-SEGMENTS=\(skippedSegments)") }
        for segment in segments {
            if segment.discontinuity { lines.append("#EXT-X-DISCONTINUITY") }
            lines.append("#EXT-X-PROGRAM-DATE-TIME:" + Self.dateText(segment.programDateTime))
            lines += segment.parts.map(Self.partLine)
            lines.append("#EXTINF:\(MediaPlaylist.format(segment.duration)),")
            lines.append(segment.uri)
        }
        if !pendingParts.isEmpty || preloadHint != nil {
            if pendingDiscontinuity { lines.append("#EXT-X-DISCONTINUITY") }
            if let date = pendingProgramDateTime { lines.append("#EXT-X-PROGRAM-DATE-TIME:" + Self.dateText(date)) }
        }
        lines += pendingParts.map(Self.partLine)
        if let preloadHint, !endList { lines.append("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"\(preloadHint)\"") }
        for report in reports where !endList {
            lines.append("#EXT-X-RENDITION-REPORT:URI=\"\(report.uri)\",LAST-MSN=\(report.lastSequence),LAST-PART=\(report.lastPart)")
        }
        if endList { lines.append("#EXT-X-ENDLIST") }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func partLine(_ part: Part) -> String {
        "#EXT-X-PART:DURATION=\(MediaPlaylist.format(part.duration)),URI=\"\(part.uri)\"" + (part.independent ? ",INDEPENDENT=YES" : "")
    }

    /// ISO 8601 in UTC with milliseconds (`2026-12-06T01:07:14.123Z`), as players parse it.
    /// Written by hand: a playlist is rendered after every part, and a date formatter per line
    /// cost more than the rest of the playlist.
    static func dateText(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = String(Int(millis % 1000)).leftPadded(3)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    /// Reads dates with fractional seconds or without (one parser per playlist read).
    private struct DateReader {
        let fractional: ISO8601DateFormatter = {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter
        }()
        let whole = ISO8601DateFormatter()

        func date(_ text: Substring) -> Date? { fractional.date(from: String(text)) ?? whole.date(from: String(text)) }
    }

    /// Reads a live playlist this type wrote (or any LL-HLS media playlist of the same shape).
    /// - Throws: ``HLSError`` naming the line that is wrong.
    public static func parse(_ text: String) throws -> LivePlaylist {
        var playlist = LivePlaylist(targetDuration: 0, partTarget: 0)
        let dates = DateReader()
        var sequence: Int?
        var parts: [Part] = []
        var discontinuity = false
        var date: Date?
        var duration: Double?
        var sawHeader = false
        for (offset, line) in PlaylistLines(text).enumerated() {
            let number = offset + 1
            let text = line.text
            if text.isEmpty { continue }
            if !sawHeader {
                guard text == "#EXTM3U" else { throw HLSError.playlist("does not start with #EXTM3U", line: number) }
                sawHeader = true
            } else if let value = line.value(of: "#EXT-X-TARGETDURATION") {
                playlist.targetDuration = try Self.number(value, "EXT-X-TARGETDURATION", number)
            } else if let value = line.value(of: "#EXT-X-PART-INF") {
                playlist.partTarget = try decimal(AttributeList(parsing: value)["PART-TARGET"], "PART-TARGET", number)
            } else if let value = line.value(of: "#EXT-X-SERVER-CONTROL") {
                let attributes = AttributeList(parsing: value)
                playlist.partHoldBack = try decimal(attributes["PART-HOLD-BACK"], "PART-HOLD-BACK", number)
                if let skip = attributes["CAN-SKIP-UNTIL"] { playlist.canSkipUntil = try decimal(skip, "CAN-SKIP-UNTIL", number) }
            } else if let value = line.value(of: "#EXT-X-SKIP") {
                guard playlist.segments.isEmpty, let skipped = AttributeList(parsing: value)["SKIPPED-SEGMENTS"].flatMap(Int.init), skipped > 0 else {
                    throw HLSError.playlist("EXT-X-SKIP needs SKIPPED-SEGMENTS (a positive number) before any segment", line: number)
                }
                playlist.skippedSegments = skipped
            } else if let value = line.value(of: "#EXT-X-MEDIA-SEQUENCE") {
                sequence = try Self.number(value, "EXT-X-MEDIA-SEQUENCE", number)
            } else if let value = line.value(of: "#EXT-X-DISCONTINUITY-SEQUENCE") {
                playlist.discontinuitySequence = try Self.number(value, "EXT-X-DISCONTINUITY-SEQUENCE", number)
            } else if let value = line.value(of: "#EXT-X-KEY") {
                let attributes = AttributeList(parsing: value)
                playlist.key = SegmentKey(method: SegmentKey.Method(rawValue: attributes["METHOD"] ?? "") ?? .none, uri: attributes["URI"])
            } else if text == "#EXT-X-DISCONTINUITY" {
                discontinuity = true
            } else if let value = line.value(of: "#EXT-X-PROGRAM-DATE-TIME") {
                guard let parsed = dates.date(value) else { throw HLSError.playlist("EXT-X-PROGRAM-DATE-TIME '\(value)' is not a date", line: number) }
                date = parsed
            } else if let value = line.value(of: "#EXT-X-PART") {
                let attributes = AttributeList(parsing: value)
                guard let uri = attributes["URI"] else { throw HLSError.playlist("EXT-X-PART without a URI", line: number) }
                parts.append(Part(duration: try decimal(attributes["DURATION"], "DURATION", number), uri: uri, independent: attributes["INDEPENDENT"] == "YES"))
            } else if let value = line.value(of: "#EXTINF") {
                duration = try decimal(value.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init), "EXTINF", number)
            } else if let value = line.value(of: "#EXT-X-PRELOAD-HINT") {
                playlist.preloadHint = AttributeList(parsing: value)["URI"]
            } else if let value = line.value(of: "#EXT-X-RENDITION-REPORT") {
                let attributes = AttributeList(parsing: value)
                guard let uri = attributes["URI"], let msn = attributes["LAST-MSN"].flatMap(Int.init), let part = attributes["LAST-PART"].flatMap(Int.init) else {
                    throw HLSError.playlist("EXT-X-RENDITION-REPORT needs URI, LAST-MSN and LAST-PART", line: number)
                }
                playlist.reports.append(RenditionReport(uri: uri, lastSequence: msn, lastPart: part))
            } else if text == "#EXT-X-ENDLIST" {
                playlist.endList = true
            } else if !line.isTag {
                guard let segmentDuration = duration else { throw HLSError.playlist("a URI without #EXTINF before it", line: number) }
                guard let pdt = date else { throw HLSError.playlist("segment \(text) has no EXT-X-PROGRAM-DATE-TIME", line: number) }
                let current = (playlist.segments.last?.sequence).map { $0 + 1 } ?? ((sequence ?? 0) + playlist.skippedSegments)
                playlist.segments.append(
                    Segment(sequence: current, duration: segmentDuration, uri: String(text), programDateTime: pdt, discontinuity: discontinuity, parts: parts))
                parts = []
                discontinuity = false
                date = nil
                duration = nil
            }
        }
        guard sawHeader else { throw HLSError.playlist("does not start with #EXTM3U") }
        playlist.pendingSequence = (playlist.segments.last?.sequence).map { $0 + 1 } ?? ((sequence ?? 0) + playlist.skippedSegments)
        playlist.pendingParts = parts
        playlist.pendingDiscontinuity = discontinuity
        playlist.pendingProgramDateTime = date
        return playlist
    }

    private static func number(_ value: Substring, _ tag: String, _ line: Int) throws -> Int {
        guard let number = Int(value.trimmingSpaces()), number >= 0 else { throw HLSError.playlist("\(tag) '\(value)' is not a whole number", line: line) }
        return number
    }

    private static func decimal(_ value: String?, _ name: String, _ line: Int) throws -> Double {
        guard let value, let number = Double(value.trimmingSpaces()), number >= 0, number.isFinite else {
            throw HLSError.playlist("\(name) '\(value ?? "")' is not a duration", line: line)
        }
        return number
    }
}
