import DePINProtocol
import EdgeCache
import HTTPTypes
import Hummingbird
import NIOCore

/// What the edge does as a host: uploads of the titles it hosts, and what it answers other
/// edges that fill from it.
extension EdgeResponder {
    /// What every upload to a host passes (`PUT /{route}/{content}/{path}`): an edge with a
    /// coordinator, PUT, an upload token the coordinator gave for this node and this title, and a
    /// body of at most `limit` bytes (nothing more is read).
    func upload(
        _ request: Request, path: Substring, route: String, limit: (Hosting, CacheKey) -> Int
    ) async throws(HTTPFailure) -> (key: CacheKey, hosting: Hosting, body: ByteBuffer) {
        let (key, hosting, most) = try await uploadAllowed(request, path: path, route: route, limit: limit)
        do {
            return (key, hosting, try await request.body.collect(upTo: most))
        } catch {
            throw HTTPFailure(status: .contentTooLarge, message: "\(key.path) may be at most \(most) bytes")
        }
    }

    /// Checks an upload's method, path and token before its body is read.
    /// - Returns: what it is for and the most bytes it may carry.
    func uploadAllowed(
        _ request: Request, path: Substring, route: String, limit: (Hosting, CacheKey) -> Int
    ) async throws(HTTPFailure) -> (key: CacheKey, hosting: Hosting, limit: Int) {
        guard let hosting, let gate else { throw .notFound("this edge has no coordinator, so it hosts no titles") }
        guard request.method == .put else {
            var failure = HTTPFailure(status: .methodNotAllowed, message: "uploads are PUT /\(route)/{content}/{path}")
            failure.extraHeaders[.allow] = "PUT"
            throw failure
        }
        let key = try MediaRequest.key(fromRawPath: path)
        let token = TokenGate.token(query: nil, authorization: request.headers[.authorization])
        if let refusal = await gate.refusal(token, content: key.content) { throw refusal }
        guard let token, gate.scope(of: token) == .host(node: hosting.node) else {
            throw HTTPFailure(
                status: .forbidden,
                message: "this token does not let anyone upload \(key.content) to node \(hosting.node); the coordinator's POST /v1/contents and POST /v1/live give upload tokens")
        }
        let most = limit(hosting, key)
        guard most > 0 else { throw HTTPFailure(status: .unprocessableContent, message: "\(key.path.prefix(100)) is not a file a host keeps") }
        return (key, hosting, most)
    }

    /// `PUT /hosting/{content}/{path}`: a publisher uploading a title the coordinator chose this
    /// edge to host, with the upload token the coordinator gave it for this node.
    func receiveUpload(_ request: Request, path: Substring) async throws(HTTPFailure) -> Response {
        // No more is read than the file may weigh: its length in the manifest, or the text limit.
        let (key, hosting, body) = try await upload(request, path: path, route: "hosting") { hosting, key in
            hosting.store.uploadLimit(content: key.content, path: key.path)
        }
        let stored: Bool
        do { stored = try hosting.store.put(content: key.content, path: key.path, body: body) } catch { throw error.failure }
        let complete = hosting.store.isComplete(key.content)
        if complete { hosting.assignments.hosted(key.content) }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        let text = "\(stored ? "stored" : "already held") \(key.content)/\(key.path) (\(body.readableBytes) bytes)\(complete ? "; the title is complete" : "")\n"
        return Response(status: stored ? .created : .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A peer (an edge's token) asking this host for a file of a title hosted here that its copy
    /// still lacks and the cache does not hold: answered from what the host holds, never by a
    /// fill of the host's own from the other hosts. Two hosts still copying a title (or taking
    /// its upload) would ask each other in a loop, and a viewer's request joining that fill got
    /// its 404 after the file had landed. A live title's recording still arriving is served from
    /// the live store where it has the file. Nil: any other request, served as usual.
    func peerAnswer(
        _ request: Request, key: CacheKey, kind: MediaKind, query: Substring?, token: String, gate: TokenGate
    ) async throws(HTTPFailure) -> Response? {
        guard let hosting, !cache.isStored(key), gate.scope(of: token)?.isEdge ?? false, hosting.store.lacks(key.content, key.path) else { return nil }
        if hosting.live.serves(content: key.content, path: key.path), hosting.live.has(content: key.content, path: key.path) {
            return try await serveLive(request, key: key, kind: kind, query: query, token: token, gate: gate, live: hosting.live)
        }
        throw .notFound("\(key.content)/\(key.path) is not on this host yet (its copy of the title is not whole)")
    }
}
