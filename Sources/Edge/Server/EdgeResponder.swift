import DePINProtocol
import EdgeCache
import Foundation
import HLS
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Synchronization

/// Answers every request an edge gets: `/v/{content}/{path}`, `/healthz`, `/metrics`, and on
/// the plaintext listener `/status` (``EdgeStatusPage``).
///
/// Segments and playlists are served from ``EdgeCache`` with RFC 9110 ranges and conditional
/// requests; bad requests get a 4xx with a one-line reason in a `text/plain` body.
struct EdgeResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let cache: MediaCache
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    /// With a coordinator: the playback-token check every media request passes.
    var gate: TokenGate? = nil
    /// With a coordinator: where uploads of hosted titles go (`PUT /hosting/{content}/{path}`).
    var hosting: Hosting? = nil
    /// With a coordinator: what viewers' sessions were delivered, for claims.
    var ledger: DeliveryLedger? = nil
    /// With a coordinator: titles' keys and sessions' pathways, asked with viewers' tokens.
    var relay: ViewerRelay? = nil
    /// With a coordinator: the live titles delivered here without being hosted here.
    var liveRelay: LiveRelay? = nil
    /// On the plaintext HTTP listener only: the status page (`/status`, `/status.json`).
    var statusPage: EdgeStatusPage? = nil

    struct Hosting: Sendable {
        /// This node's id: upload tokens name it.
        let node: String
        let store: HostedStore
        let assignments: Assignments
        /// Live titles pushed here while they stream (`PUT /live-hosting/{content}/{path}`).
        let live: LiveHostedStore
    }
    let metrics = EdgeMetrics()

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await route(request)
        } catch {
            response = error.response
        }
        metrics.record(status: response.status.code, bodyBytes: request.method == .head ? 0 : (response.body.contentLength ?? 0), started: started)
        return response
    }

    /// Answers at once, without suspending, when that is possible: a media request whose object
    /// is stored and in the memory hot set, or one refused for its form. Nil: use ``respond``.
    ///
    /// ## Performance characteristics
    /// One lock-protected lookup; no allocation beyond the response headers. This is the
    /// HTTP/2 fast path (``EdgeHTTP2Handler``), so a hot segment or playlist costs no task.
    func immediateAnswer(to request: HTTPRequest, hasBody: Bool) -> Answer? {
        guard let (path, query) = MediaRequest.split(target: request.path ?? "/") else { return nil }
        do {
            let media = try MediaRequest(
                method: request.method, path: path, query: query, authorization: request.headerFields[.authorization], hasBody: hasBody,
                keysRelayed: gate != nil)
            guard case .media(let key, let kind) = media.target else {
                if case .preflight = media.target { return CORS.preflight }
                return nil
            }
            var viewerToken: String?
            if let gate {
                // Playlists are rewritten per token, and new tokens need a verification: both
                // take the task path.
                if case .playlist = kind { return nil }
                guard let token = media.token, gate.allowsRemembered(token, content: key.content) else { return nil }
                viewerToken = token
            }
            // An object in memory that nobody was served yet (a live part fetched ahead of its
            // viewers) is annotated here: a playlist's headers need its text, a segment's none.
            let hot = cache.hotEntry(key) { entry in
                if case .playlist = kind { return nil }
                return Representation(entry.metadata, kind: kind, playlist: nil)
            }
            guard let entry = hot, var representation = entry.annotation, let memory = entry.memory else { return nil }
            representation.memory = memory
            let answer = try representation.answer(to: request) { _, _ in }
            if let gate, let viewerToken { count(answer.status, bytes: answer.bodyLength, key: key, token: viewerToken, gate: gate, ttfb: .zero) }
            return answer
        } catch let failure as HTTPFailure {
            return failure.answer
        } catch {
            return nil
        }
    }

    private func route(_ request: Request) async throws(HTTPFailure) -> Response {
        let target = request.head.path ?? "/"
        if let (path, query) = MediaRequest.split(target: target) {
            let media = try MediaRequest(
                method: request.method, path: path, query: query, authorization: request.headers[.authorization],
                hasBody: MediaRequest.announcesBody(request.headers), keysRelayed: gate != nil)
            return try await serve(media, request)
        }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard path.hasPrefix("/") else { throw .badRequest("request target must be an absolute path") }
        if path.hasPrefix("/hosting/") { return try await receiveUpload(request, path: path.dropFirst(9)) }
        if path.hasPrefix("/live-hosting/") { return try await receiveLiveUpload(request, path: path.dropFirst(14)) }
        guard request.method == .get || request.method == .head else {
            throw .methodNotAllowed(request.method)
        }
        if MediaRequest.announcesBody(request.headers) { throw .badRequest("\(request.method) requests must not carry a body") }
        switch path {
        case "/healthz": return health()
        case "/metrics": return prometheusText()
        case "/status", "/status.json":
            guard let statusPage else { throw .notFound("the status page is on this edge's plaintext HTTP listener (http_listen, loopback by default)") }
            do { return try statusPage.response(self, json: path == "/status.json") } catch { throw HTTPFailure(status: .internalServerError, message: "the status page: \(error)") }
        default: throw .notFound("no such endpoint: \(path.prefix(100)); media is under /v/{content}/{path}")
        }
    }

    private func health() -> Response {
        let s = cache.statistics
        let json = """
            {"status":"ok","cache":{"objects":\(s.objects),"used_bytes":\(s.usedBytes),"capacity_bytes":\(s.capacity),\
            "memory_bytes":\(s.memoryBytes),"fills_in_flight":\(s.fillsInFlight)}}

            """
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    private func prometheusText() -> Response {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    // MARK: - Media

    /// A media request. On an edge with a coordinator the token must open the title, and
    /// viewers get playlists rewritten so every URI in them carries the token and keys come
    /// from this edge (`/v/{content}/key`, relayed to the coordinator's key service); edges
    /// filling from this one get playlists as published.
    private func serve(_ media: MediaRequest, _ request: Request) async throws(HTTPFailure) -> Response {
        let key: CacheKey, kind: MediaKind
        switch media.target {
        case .preflight: return CORS.preflight.response
        case .key(let content):
            guard let gate else { throw .notFound("this edge relays no keys") }
            let token = media.token
            if let refusal = await gate.refusal(token, content: content) { throw refusal }
            return try await serveKey(request, content: content, token: token ?? "", gate: gate)
        case .media(let mediaKey, let mediaKind): (key, kind) = (mediaKey, mediaKind)
        }
        guard let gate else { return try await serveStored(request, key: key, kind: kind) }
        let token = media.token
        if let refusal = await gate.refusal(token, content: key.content) { throw refusal }
        if let live = hosting?.live, live.serves(content: key.content, path: key.path), hosting?.store.manifest(key.content) == nil {
            return try await serveLive(request, key: key, kind: kind, query: media.query, token: token, gate: gate, live: live)
        }
        guard let token else { return try await serveStored(request, key: key, kind: kind) }
        let started = ContinuousClock.now
        if let answer = try await peerAnswer(request, key: key, kind: kind, query: media.query, token: token, gate: gate) { return answer }
        if case .playlist = kind {
            // (Playlists ask for the token's scope; a segment only when this edge would fill it.)
            let fromEdge = gate.scope(of: token)?.isEdge ?? false
            if let liveRelay, let rung = LiveRelay.rung(of: key.path) {
                // A live rung followed here serves viewers and the delivery edges that fill from
                // this one alike; an edge's first blocking reload of a rung not followed yet
                // starts it.
                if liveRelay.follows(content: key.content, rung: rung) {
                    return try await serveRelayed(request, key: key, rung: rung, query: media.query, token: token, gate: gate, live: liveRelay, started: started)
                }
                if fromEdge, QueryParameters.value("_HLS_msn", in: media.query) != nil,
                    let text = try? await cache.object(key), liveRelay.adopt(content: key.content, rung: rung, text: String(buffer: text))
                {
                    return try await serveRelayed(request, key: key, rung: rung, query: media.query, token: token, gate: gate, live: liveRelay, started: started)
                }
            }
            if !fromEdge {
                return try await serveRewritten(request, key: key, query: media.query, token: token, gate: gate, started: started)
            }
        }
        let response = try await serveStored(request, key: key, kind: kind)
        count(response.status, bytes: request.method == .head ? 0 : (response.body.contentLength ?? 0), key: key, token: token, gate: gate, ttfb: ContinuousClock.now - started)
        return response
    }

    /// A playlist rewritten for a viewer's token (and, for `master.m3u8?steering=1`, steered).
    private func serveRewritten(
        _ request: Request, key: CacheKey, query: Substring?, token: String, gate: TokenGate, started: ContinuousClock.Instant
    ) async throws(HTTPFailure) -> Response {
        let body: ByteBuffer
        do { body = try await cache.object(key) } catch { throw HTTPFailure.fromFill(error) }
        let text = String(buffer: body)
        if let liveRelay, let rung = LiveRelay.rung(of: key.path), liveRelay.adopt(content: key.content, rung: rung, text: text) {
            return try await serveRelayed(request, key: key, rung: rung, query: query, token: token, gate: gate, live: liveRelay, started: started)
        }
        let steering = key.path == "master.m3u8" && query?.split(separator: "&").contains("steering=1") == true
        let steered = steering ? await steeredMaster(text, token: token, content: key.content, gate: gate) : nil
        let rewritten = steered ?? PlaylistRewriter.rewrite(text, token: token, content: key.content)
        var headers = HTTPFields()
        headers[.contentType] = "application/vnd.apple.mpegurl"
        headers[.cacheControl] = "private, no-store"
        CORS.add(to: &headers)
        let bytes = ByteBuffer(string: rewritten)
        headers[.contentLength] = String(bytes.readableBytes)
        if request.method != .head {
            count(.ok, bytes: bytes.readableBytes, key: key, token: token, gate: gate, ttfb: ContinuousClock.now - started)
        }
        return Response(status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: bytes))
    }

    /// `GET /v/{content}/key?token=T`: the title's 16-byte AES key for a viewer whose token
    /// the gate accepted, relayed from the coordinator's key service and never stored on disk.
    private func serveKey(_ request: Request, content: String, token: String, gate: TokenGate) async throws(HTTPFailure) -> Response {
        guard let relay else { throw .notFound("this edge relays no keys") }
        if gate.scope(of: token)?.isEdge ?? false {
            throw HTTPFailure(status: .forbidden, message: "this token was given to an edge to upload or fill with; keys are for viewers' tokens from the coordinator's /v1/route")
        }
        let now = Int64(Date().timeIntervalSince1970)
        let key = try await relay.key(content: content, token: token, tokenExpiresAt: gate.expiry(of: token) ?? now, now: now)
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.cacheControl] = "private, no-store"
        headers[.contentLength] = String(key.count)
        CORS.add(to: &headers)
        return Response(status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(bytes: key)))
    }

    /// The master playlist with a variant set per pathway of the viewer's session and the
    /// coordinator's steering endpoint (`?steering=1`); nil (the plain rewrite) when the
    /// playlist cannot be steered or the coordinator cannot say the session's pathways (the
    /// viewer still plays, from this edge alone).
    private func steeredMaster(_ text: String, token: String, content: String, gate: TokenGate) async -> String? {
        guard let relay, let node = hosting?.node else { return nil }
        let session: SessionPathways
        do {
            session = try await relay.pathways(content: content, token: token)
        } catch {
            logger.warning("no steering for \(content): \(error.message)")
            return nil
        }
        return PlaylistRewriter.steered(
            text, token: token, content: content, pathways: session.pathways.map { ($0.id, $0.url) }, own: node, steeringServer: gate.coordinator)
    }

    /// Counts a response to a viewer's session for the next delivery claim (edges filling from
    /// this one are not viewers; errors, HEAD and 304 carry no bytes).
    func count(_ status: HTTPResponse.Status, bytes: Int, key: CacheKey, token: String, gate: TokenGate, ttfb: Duration) {
        guard let ledger, status == .ok || status == .partialContent, bytes > 0, case .viewer(let session) = gate.scope(of: token)
        else { return }
        let segment: Bool
        if case .segment = MediaKind(fileExtension: key.fileExtension) { segment = status == .ok } else { segment = false }
        if !ledger.record(content: key.content, session: session, bytes: bytes, segment: segment, ttfb: ttfb) {
            logger.warning("delivery ledger full: a response to session \(session) was not counted")
        }
    }

    /// An object from the cache: stored, or streamed from its fill.
    private func serveStored(_ request: Request, key: CacheKey, kind: MediaKind) async throws(HTTPFailure) -> Response {
        for _ in 0..<3 {
            let lookup: MediaCache.Lookup
            do { lookup = try cache.lookup(key) } catch { throw .unavailable("cache: \(error)") }
            switch lookup {
            case .stored(let entry):
                if let response = try await respond(request, key: key, kind: kind, entry: entry) { return response }
            case .filling(let fill):
                if let response = try await respond(request, key: key, kind: kind, fill: fill) { return response }
            }
        }
        throw .unavailable("\(key) kept being evicted while it was opened; try again")
    }

    /// Serves a stored object. Returns nil if it was evicted before its file could be opened
    /// (look it up again): once a response is begun, its bytes are guaranteed.
    private func respond(_ request: Request, key: CacheKey, kind: MediaKind, entry: MediaCache.Entry) async throws(HTTPFailure) -> Response? {
        let memory = entry.memory ?? cache.memoryCopy(of: key)
        var file: MediaCache.OpenFile?
        if memory == nil {
            do {
                file = try cache.open(entry, key: key)
            } catch let error as CacheReadError where error.isVanished {
                return nil
            } catch {
                throw .unavailable("opening \(key): \(error)")
            }
        }
        var representation: Representation
        if let known = entry.annotation {
            representation = known
        } else {
            var info: PlaylistInfo?
            if case .playlist = kind { info = try await playlist(key: key, entry: entry, file: file) }
            representation = Representation(entry.metadata, kind: kind, playlist: info)
            cache.annotate(key, sha256: entry.metadata.sha256, with: representation)
        }
        representation.memory = memory
        let cache = self.cache
        let opened = file
        return try representation.response(to: request) { range, sink in
            try await cache.read(entry, key: key, file: opened, range: range, into: sink)
        }
    }

    /// Serves an object still being filled, streaming bytes as they arrive. Returns nil when the
    /// fill finished and stored the object meanwhile (look it up again).
    private func respond(_ request: Request, key: CacheKey, kind: MediaKind, fill: Fill) async throws(HTTPFailure) -> Response? {
        let head: Fill.Head
        do { head = try await fill.head() } catch { throw HTTPFailure.fromFill(error) }
        let conditional = [HTTPField.Name.ifMatch, .ifNoneMatch, .ifModifiedSince, .ifUnmodifiedSince, .ifRange].contains { request.headers[$0] != nil }
        var isPlaylist = false
        if case .playlist = kind { isPlaylist = true }
        // A whole segment of unknown length (one being transcoded) streams as it is made.
        if !isPlaylist && head.totalLength == nil && !conditional && request.headers[.range] == nil {
            return Self.streaming(request, kind: kind, fill: fill, cache: cache, lastModified: head.lastModified).response
        }
        // Anything else that needs the whole object's validators or content waits for the fill.
        if isPlaylist || head.totalLength == nil || (conditional && head.sha256Hex == nil) {
            let outcome: Fill.Outcome
            do { outcome = try await fill.outcome() } catch { throw HTTPFailure.fromFill(error) }
            guard case .complete(let metadata) = outcome else {
                if case .failed(let error) = outcome { throw HTTPFailure.fromFill(error) }
                return nil
            }
            if cache.isStored(key) { return nil }
            // Not kept (a live playlist, or larger than the budget): serve the finished fill.
            var info: PlaylistInfo?
            if isPlaylist {
                var whole = ByteBuffer()
                do { try await cache.read(fill, range: 0..<metadata.length) { whole.writeImmutableBuffer($0) } } catch {
                    throw HTTPFailure.fromFill(error)
                }
                info = PlaylistInfo(parsing: whole.readableBytesView)
            }
            let representation = Representation(
                length: metadata.length, etag: metadata.etag, lastModified: metadata.lastModified,
                sha256Hex: metadata.sha256, contentType: kind.contentType, cacheControl: kind.cacheControl(playlistInfo: info))
            let cache = self.cache
            return try representation.response(to: request) { range, sink in try await cache.read(fill, range: range, into: sink) }
        }
        let now = Int64(Date().timeIntervalSince1970)
        let representation = Representation(
            length: head.totalLength!, etag: head.sha256Hex.map { "\"\($0.prefix(32))\"" }, lastModified: head.lastModified ?? now,
            sha256Hex: head.sha256Hex, contentType: kind.contentType, cacheControl: kind.cacheControl(playlistInfo: nil))
        let cache = self.cache
        return try representation.response(to: request) { range, sink in try await cache.read(fill, range: range, into: sink) }
    }

    /// A 200 whose length is not known yet: bytes leave as the fill writes them (chunked on
    /// HTTP/1.1, DATA frames on HTTP/2); a fill that fails midway resets the response.
    static func streaming(_ request: Request, kind: MediaKind, fill: Fill, cache: MediaCache, lastModified: Int64?) -> Answer {
        var headers = HTTPFields()
        headers[.contentType] = kind.contentType
        headers[.cacheControl] = kind.cacheControl(playlistInfo: nil)
        headers[.lastModified] = HTTPDate.format(lastModified ?? Int64(Date().timeIntervalSince1970))
        CORS.add(to: &headers)
        if request.method == .head { return Answer(status: .ok, headers: headers, body: .none) }
        return Answer(status: .ok, headers: headers, body: .stream(ResponseBody { writer in
            try await cache.read(fill, range: nil) { try await writer.write($0) }
            try await writer.finish(nil)
        }))
    }

    /// The playlist's kind (master/VOD/live).
    private func playlist(key: CacheKey, entry: MediaCache.Entry, file: MediaCache.OpenFile?) async throws(HTTPFailure) -> PlaylistInfo {
        var whole = ByteBuffer()
        do {
            try await cache.read(entry, key: key, file: file, range: 0..<entry.metadata.length) { whole.writeImmutableBuffer($0) }
        } catch {
            throw .unavailable("reading \(key): \(error)")
        }
        return PlaylistInfo(parsing: whole.readableBytesView)
    }
}

extension HostingError {
    /// The answer to an upload refused for this reason.
    var failure: HTTPFailure {
        let status: HTTPResponse.Status =
            switch code {
            case .invalid: .unprocessableContent
            case .conflict: .conflict
            case .storage: .init(code: 507, reasonPhrase: "Insufficient Storage")
            }
        return HTTPFailure(status: status, message: message)
    }
}
