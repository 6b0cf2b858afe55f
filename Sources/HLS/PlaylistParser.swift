/// A parsed playlist: master or media.
public enum Playlist: Sendable, Hashable {
    case master(MasterPlaylist)
    case media(MediaPlaylist)

    /// Parses a master or media playlist.
    ///
    /// Tolerant the way players are: a byte-order mark, CRLF line ends, blank lines, spaces around
    /// lines and unknown tags are accepted; what is wrong in a tag the parser needs is an error
    /// naming the line.
    /// - Throws: ``HLSError``.
    public static func parse(_ text: String) throws -> Playlist {
        let lines = PlaylistLines(text).map { String($0.text) }
        guard let headerIndex = lines.firstIndex(where: { !$0.isEmpty }), lines[headerIndex] == "#EXTM3U" else {
            throw HLSError.playlist("does not start with #EXTM3U")
        }
        let isMaster = lines.contains { $0.hasPrefix("#EXT-X-STREAM-INF") }
        return isMaster ? .master(try parseMaster(lines)) : .media(try parseMedia(lines))
    }

    private static func parseMaster(_ lines: [String]) throws -> MasterPlaylist {
        var playlist = MasterPlaylist(version: 1, independentSegments: false, variants: [])
        var pending: AttributeList?
        var pendingLine = 0
        for (offset, line) in lines.enumerated() where !line.isEmpty {
            let number = offset + 1
            if let value = tagValue(line, "#EXT-X-VERSION") {
                playlist.version = try integer(value, "EXT-X-VERSION", number)
            } else if line == "#EXT-X-INDEPENDENT-SEGMENTS" {
                playlist.independentSegments = true
            } else if let value = tagValue(line, "#EXT-X-STREAM-INF") {
                pending = AttributeList(parsing: Substring(value))
                pendingLine = number
            } else if line.hasPrefix("#") {
                continue
            } else if let attributes = pending {
                guard let bandwidth = attributes["BANDWIDTH"].flatMap(Int.init) else {
                    throw HLSError.playlist("EXT-X-STREAM-INF without a numeric BANDWIDTH", line: pendingLine)
                }
                var variant = Variant(bandwidth: bandwidth, uri: line)
                variant.averageBandwidth = attributes["AVERAGE-BANDWIDTH"].flatMap(Int.init)
                variant.codecs = attributes["CODECS"]
                variant.frameRate = attributes["FRAME-RATE"].flatMap(Double.init)
                if let resolution = attributes["RESOLUTION"] {
                    let parts = resolution.lowercased().split(separator: "x")
                    guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
                        throw HLSError.playlist("RESOLUTION '\(resolution)' is not WIDTHxHEIGHT", line: pendingLine)
                    }
                    variant.width = w
                    variant.height = h
                }
                playlist.variants.append(variant)
                pending = nil
            }
        }
        return playlist
    }

    private static func parseMedia(_ lines: [String]) throws -> MediaPlaylist {
        var playlist = MediaPlaylist(version: 1, targetDuration: 0, segments: [])
        var key: SegmentKey?
        var map: MediaMap?
        var duration: Double?
        var title = ""
        var range: PlaylistByteRange?
        var discontinuity = false
        for (offset, line) in lines.enumerated() where !line.isEmpty {
            let number = offset + 1
            if let value = tagValue(line, "#EXTINF") {
                let parts = value.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
                guard let seconds = Double(parts[0].trimmingSpaces()), seconds >= 0, seconds.isFinite else {
                    throw HLSError.playlist("EXTINF duration '\(parts[0])' is not a number", line: number)
                }
                duration = seconds
                title = parts.count > 1 ? String(parts[1]) : ""
            } else if let value = tagValue(line, "#EXT-X-TARGETDURATION") {
                playlist.targetDuration = try integer(value, "EXT-X-TARGETDURATION", number)
            } else if let value = tagValue(line, "#EXT-X-MEDIA-SEQUENCE") {
                playlist.mediaSequence = try integer(value, "EXT-X-MEDIA-SEQUENCE", number)
            } else if let value = tagValue(line, "#EXT-X-VERSION") {
                playlist.version = try integer(value, "EXT-X-VERSION", number)
            } else if let value = tagValue(line, "#EXT-X-PLAYLIST-TYPE") {
                playlist.playlistType = MediaPlaylist.PlaylistType(rawValue: value.uppercased())
            } else if line == "#EXT-X-INDEPENDENT-SEGMENTS" {
                playlist.independentSegments = true
            } else if line == "#EXT-X-ENDLIST" {
                playlist.endList = true
            } else if line == "#EXT-X-DISCONTINUITY" {
                discontinuity = true
            } else if let value = tagValue(line, "#EXT-X-BYTERANGE") {
                range = try byteRange(value, number)
            } else if let value = tagValue(line, "#EXT-X-KEY") {
                key = try parseKey(AttributeList(parsing: Substring(value)), number)
            } else if let value = tagValue(line, "#EXT-X-MAP") {
                let attributes = AttributeList(parsing: Substring(value))
                guard let uri = attributes["URI"] else { throw HLSError.playlist("EXT-X-MAP without URI", line: number) }
                map = MediaMap(uri: uri, byteRange: try attributes["BYTERANGE"].map { try byteRange($0, number) })
            } else if line.hasPrefix("#") {
                continue
            } else {
                guard let seconds = duration else {
                    throw HLSError.playlist("segment URI '\(line)' without a preceding EXTINF", line: number)
                }
                playlist.segments.append(
                    MediaSegmentEntry(
                        duration: seconds, uri: line, title: title, byteRange: range, key: key, map: map,
                        discontinuity: discontinuity))
                duration = nil
                title = ""
                range = nil
                discontinuity = false
            }
        }
        return playlist
    }

    private static func parseKey(_ attributes: AttributeList, _ line: Int) throws -> SegmentKey? {
        guard let methodName = attributes["METHOD"], let method = SegmentKey.Method(rawValue: methodName.uppercased()) else {
            throw HLSError.playlist("EXT-X-KEY with an unknown METHOD '\(attributes["METHOD"] ?? "")'", line: line)
        }
        if method == .none { return nil }
        guard let uri = attributes["URI"] else { throw HLSError.playlist("EXT-X-KEY METHOD=\(methodName) without URI", line: line) }
        var iv: [UInt8]?
        if let text = attributes["IV"] {
            iv = hexBytes(text)
            guard iv != nil else { throw HLSError.playlist("EXT-X-KEY IV '\(text)' is not a 128-bit hex number", line: line) }
        }
        return SegmentKey(method: method, uri: uri, iv: iv, keyFormat: attributes["KEYFORMAT"])
    }

    /// `0x` followed by up to 32 hex digits, as 16 bytes (left-padded with zeros).
    static func hexBytes(_ text: String) -> [UInt8]? {
        guard text.lowercased().hasPrefix("0x") else { return nil }
        var digits = Array(text.dropFirst(2))
        guard !digits.isEmpty, digits.count <= 32 else { return nil }
        digits = Array(repeating: "0", count: 32 - digits.count) + digits
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: 32, by: 2) {
            guard let byte = UInt8(String(digits[i...i + 1]), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private static func byteRange(_ text: String, _ line: Int) throws -> PlaylistByteRange {
        let parts = text.split(separator: "@", maxSplits: 1)
        guard let length = parts.first.flatMap({ Int($0.trimmingSpaces()) }), length >= 0 else {
            throw HLSError.playlist("byte range '\(text)' is not LENGTH[@OFFSET]", line: line)
        }
        var offset: Int?
        if parts.count == 2 {
            guard let value = Int(parts[1].trimmingSpaces()), value >= 0 else {
                throw HLSError.playlist("byte range '\(text)' has a bad offset", line: line)
            }
            offset = value
        }
        return PlaylistByteRange(length: length, offset: offset)
    }

    private static func integer(_ text: String, _ tag: String, _ line: Int) throws -> Int {
        guard let value = Int(text.trimmingSpaces()), value >= 0 else {
            throw HLSError.playlist("\(tag) value '\(text)' is not a non-negative integer", line: line)
        }
        return value
    }

    /// The text after `tag:` when `line` is that tag.
    private static func tagValue(_ line: String, _ tag: String) -> String? {
        guard line.hasPrefix(tag) else { return nil }
        let rest = line.dropFirst(tag.count)
        guard rest.first == ":" else { return rest.isEmpty ? "" : nil }
        return String(rest.dropFirst())
    }
}
