import DePINProtocol
import EdgeCache
import Foundation
import HLS
import HTTPTypes
import Hummingbird
import NIOCore

extension EdgeResponder {
    /// `PUT /live-hosting/{content}/{path}`: a live ingest pushing a part, a segment or a
    /// playlist of a title the coordinator chose this edge to host, as it is made.
    func receiveLiveUpload(_ request: Request, path: Substring) async throws(HTTPFailure) -> Response {
        let (key, hosting, body) = try await upload(request, path: path, route: "live-hosting") { hosting, key in
            hosting.live.uploadLimit(path: key.path)
        }
        if hosting.store.manifest(key.content) != nil {
            throw HTTPFailure(status: .conflict, message: "\(key.content) is a published title here; live files are no longer taken")
        }
        do { try hosting.live.put(content: key.content, path: key.path, body: body) } catch { throw error.failure }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "stored \(key.content)/\(key.path) (\(body.readableBytes) bytes)\n")))
    }

    /// A file of a live title hosted here, straight from the live store: a part or segment that
    /// is about to arrive is waited for; a viewer's playlist is rewritten for its token.
    func serveLive(
        _ request: Request, key: CacheKey, kind: MediaKind, token: String?, gate: TokenGate, live: LiveHostedStore
    ) async throws(HTTPFailure) -> Response {
        guard let data = await live.read(content: key.content, path: key.path) else {
            throw .notFound("\(key.content)/\(key.path) is not here (live: it left the window, or is not made yet)")
        }
        var headers = HTTPFields()
        CORS.add(to: &headers)
        var body = ByteBuffer(bytes: data)
        if case .playlist = kind {
            headers[.contentType] = "application/vnd.apple.mpegurl"
            // A live playlist changes with every part: about half a part target.
            headers[.cacheControl] = "private, max-age=0, no-cache"
            if let token, !(gate.scope(of: token)?.isEdge ?? false) {
                body = ByteBuffer(string: PlaylistRewriter.rewrite(String(decoding: data, as: UTF8.self), token: token, content: key.content))
            }
        } else {
            headers[.contentType] = "video/mp2t"
            headers[.cacheControl] = "private, max-age=60"
        }
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: body))
    }
}
