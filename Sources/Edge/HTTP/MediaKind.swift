/// What an edge serves, by file extension, with the headers each kind gets whatever the
/// upstream said.
package enum MediaKind: Sendable {
    case playlist
    case segment(contentType: String)
    case manifest

    package init?(fileExtension: String) {
        switch fileExtension {
        case "m3u8": self = .playlist
        case "ts": self = .segment(contentType: "video/mp2t")
        case "m4s": self = .segment(contentType: "video/iso.segment")
        case "mp4", "m4v": self = .segment(contentType: "video/mp4")
        case "m4a": self = .segment(contentType: "audio/mp4")
        case "aac": self = .segment(contentType: "audio/aac")
        case "vtt", "webvtt": self = .segment(contentType: "text/vtt")
        case "json": self = .manifest
        default: return nil
        }
    }

    /// The extensions served; anything else is refused.
    package static let servedExtensions = "m3u8, ts, m4s, mp4, m4v, m4a, aac, vtt, webvtt, json"

    package var contentType: String {
        switch self {
        case .playlist: "application/vnd.apple.mpegurl"
        case .segment(let type): type
        case .manifest: "application/json"
        }
    }

    /// Segments never change once published: a year, immutable. Playlists: a VOD playlist (one
    /// with `#EXT-X-ENDLIST`) for a day; a live one for half its target duration (RFC 8216 §6.2.2
    /// wants updates visible within 1.5 target durations); a master playlist for five minutes.
    package func cacheControl(playlistInfo: PlaylistInfo?) -> String {
        switch self {
        case .segment: return "public, max-age=31536000, immutable"
        case .manifest: return "public, max-age=60"
        case .playlist:
            guard let info = playlistInfo else { return "public, max-age=1" }
            if info.isMaster { return "public, max-age=300" }
            if info.hasEndList { return "public, max-age=86400" }
            return "public, max-age=\(max(1, info.targetDuration / 2))"
        }
    }
}

/// What the edge reads from a playlist to choose its caching: master or media, VOD or live.
package struct PlaylistInfo: Sendable, Equatable {
    package var isMaster: Bool
    package var hasEndList: Bool
    package var targetDuration: Int

    /// A live media playlist changes: it is served but never kept.
    package var isLive: Bool { !isMaster && !hasEndList }

    package init(isMaster: Bool, hasEndList: Bool, targetDuration: Int) {
        self.isMaster = isMaster
        self.hasEndList = hasEndList
        self.targetDuration = targetDuration
    }

    package init(parsing bytes: some Collection<UInt8>) {
        let text = String(decoding: bytes, as: UTF8.self)
        var master = false
        var end = false
        var target = 6
        for line in text.split(whereSeparator: { $0.isNewline }) {
            if line.hasPrefix("#EXT-X-STREAM-INF") { master = true }
            if line.hasPrefix("#EXT-X-ENDLIST") { end = true }
            if line.hasPrefix("#EXT-X-PLAYLIST-TYPE:VOD") { end = true }
            if line.hasPrefix("#EXT-X-TARGETDURATION:"), let t = Int(line.dropFirst(22).trimmingWhitespace()) { target = t }
        }
        self.init(isMaster: master, hasEndList: end, targetDuration: target)
    }
}
