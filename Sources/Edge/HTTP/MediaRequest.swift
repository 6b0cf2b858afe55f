import EdgeCache
import Foundation
import HTTPTypes

/// What a request under `/v/` asks for, decided once by the same rules for the HTTP/2 fast path
/// (``EdgeResponder/immediateAnswer(to:hasBody:)``) and the task path
/// (``EdgeResponder/respond(to:context:)``): the method, the body, the path and its kind, and the
/// viewer's token, checked in that order, each refusal with its reason.
struct MediaRequest {
    enum Target {
        /// A CORS preflight (`OPTIONS`), answered without looking further.
        case preflight
        /// An object of a kind the edge serves.
        case media(CacheKey, MediaKind)
        /// The title's HLS key (`/v/{content}/key`), relayed for viewers by an edge with a
        /// coordinator.
        case key(content: String)
    }

    let target: Target
    /// The query string, without its `?`.
    let query: Substring?
    /// The `Authorization` header.
    let authorization: String?

    /// The playback token, from the query or an `Authorization: Bearer` header (looked for only
    /// when asked: an edge without a coordinator never does).
    var token: String? { TokenGate.token(query: query, authorization: authorization) }

    /// The path, under a title, of its HLS key on an edge.
    static let keyPath = "key"

    /// - Parameters:
    ///   - path: the request target's path after `/v/`, still percent-encoded.
    ///   - keysRelayed: whether `/v/{content}/key` is the key endpoint (an edge with a
    ///     coordinator) or an unserved path.
    /// - Throws: ``HTTPFailure``: 405 for a method other than GET, HEAD or OPTIONS; 400 for a body
    ///   or a bad path; 404 for a path that names no title and object, or a kind not served.
    init(
        method: HTTPRequest.Method, path: Substring, query: Substring?, authorization: String?, hasBody: Bool, keysRelayed: Bool
    ) throws(HTTPFailure) {
        (self.query, self.authorization) = (query, authorization)
        if method == .options {
            target = .preflight
            return
        }
        guard method == .get || method == .head else { throw .methodNotAllowed(method) }
        if hasBody { throw .badRequest("\(method) requests must not carry a body") }
        let key = try Self.key(fromRawPath: path)
        if keysRelayed && key.path == Self.keyPath {
            target = .key(content: key.content)
        } else if let kind = MediaKind(fileExtension: key.fileExtension) {
            target = .media(key, kind)
        } else {
            throw .notFound("\(key.path.prefix(100)) is not a media type an edge serves (\(MediaKind.servedExtensions))")
        }
    }

    /// Splits a request target into its `/v/`-relative path and its query; nil for a target
    /// outside `/v/`.
    static func split(target: String) -> (path: Substring, query: Substring?)? {
        guard target.hasPrefix("/v/") else { return nil }
        let start = target.utf8.index(target.startIndex, offsetBy: 3)
        guard let mark = target.utf8[start...].firstIndex(of: UInt8(ascii: "?")) else { return (target[start...], nil) }
        return (target[start..<mark], target[target.utf8.index(after: mark)...])
    }

    /// Whether an HTTP/1.1 request's head announces a body.
    static func announcesBody(_ headers: HTTPFields) -> Bool {
        (headers[.contentLength].map { $0 != "0" } ?? false) || headers[.transferEncoding] != nil
    }

    /// `content/a/b.ts` with each segment percent-decoded on its own, so an encoded slash stays
    /// inside its segment and is refused there.
    static func key(fromRawPath raw: Substring) throws(HTTPFailure) -> CacheKey {
        // Nothing encoded (the usual case): split once, no decoding.
        if !raw.utf8.contains(UInt8(ascii: "%")), let slash = raw.firstIndex(of: "/") {
            do {
                return try CacheKey(content: String(raw[..<slash]), path: String(raw[raw.index(after: slash)...]))
            } catch {
                throw .badRequest(error.description)
            }
        }
        let segments = raw.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2 else { throw .notFound("media paths are /v/{content}/{path}") }
        var decoded: [String] = []
        for segment in segments {
            if !segment.contains("%") {
                decoded.append(String(segment))
                continue
            }
            guard let text = String(segment).removingPercentEncoding else {
                throw .badRequest("path segment '\(segment.prefix(60))' has invalid percent-encoding")
            }
            // An encoded slash would become a separator once the segments are joined.
            guard !text.contains("/") else { throw .badRequest("path segment '\(segment.prefix(60))' encodes a slash (%2F), which is refused") }
            decoded.append(text)
        }
        do {
            return try CacheKey(content: decoded[0], path: decoded.dropFirst().joined(separator: "/"))
        } catch {
            throw .badRequest(error.description)
        }
    }
}
