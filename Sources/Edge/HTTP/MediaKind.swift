import HLS

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
