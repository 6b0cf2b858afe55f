import HTTPTypes
import Hummingbird

/// Cross-origin access for web players (hls.js, Shaka, video.js fetch playlists and segments from
/// another origin than the page's): any origin may read media, its ranges and its validators.
enum CORS {
    static let exposed = "Content-Length, Content-Range, Content-Type, ETag, Last-Modified, Accept-Ranges, Repr-Digest"

    static func add(to headers: inout HTTPFields) {
        headers[.accessControlAllowOrigin] = "*"
        headers[.accessControlExposeHeaders] = exposed
    }

    /// The answer to a preflight (`OPTIONS`), which browsers send before a multi-range or
    /// conditional request: 204 allowing GET and HEAD with those headers for a day.
    static var preflight: Answer {
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = "*"
        headers[.accessControlAllowMethods] = "GET, HEAD, OPTIONS"
        headers[.accessControlAllowHeaders] = "Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, Authorization"
        headers[.accessControlMaxAge] = "86400"
        headers[.allow] = "GET, HEAD, OPTIONS"
        headers[.contentLength] = "0"
        return Answer(status: .noContent, headers: headers, body: .none)
    }
}
