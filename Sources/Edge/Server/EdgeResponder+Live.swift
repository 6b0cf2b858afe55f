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
    ///
    /// A part is taken as its body arrives (the ingest sends it as it encodes it), and viewers
    /// who ask for it meanwhile are sent its bytes as they come; everything else is read whole
    /// and then checked.
    func receiveLiveUpload(_ request: Request, path: Substring) async throws(HTTPFailure) -> Response {
        let (key, hosting, limit) = try await uploadAllowed(request, path: path, route: "live-hosting") { hosting, key in
            hosting.live.uploadLimit(path: key.path)
        }
        if hosting.store.manifest(key.content) != nil {
            throw HTTPFailure(status: .conflict, message: "\(key.content) is a published title here; live files are no longer taken")
        }
        let size: Int
        if key.path.hasSuffix(".ts"), key.path.split(separator: ".").count == 3 {
            size = try await receiveArriving(request, key: key, live: hosting.live)
        } else {
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: limit) } catch {
                throw HTTPFailure(status: .contentTooLarge, message: "\(key.path) may be at most \(limit) bytes")
            }
            do { try hosting.live.put(content: key.content, path: key.path, body: body) } catch { throw error.failure }
            size = body.readableBytes
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "stored \(key.content)/\(key.path) (\(size) bytes)\n")))
    }

    /// Stores a part chunk by chunk as its body comes.
    /// - Returns: its size.
    private func receiveArriving(_ request: Request, key: CacheKey, live: LiveHostedStore) async throws(HTTPFailure) -> Int {
        var arrival: LiveHostedStore.Arrival
        do { arrival = try live.beginPart(content: key.content, path: key.path) } catch { throw error.failure }
        do {
            for try await chunk in request.body { try live.append(chunk, to: &arrival) }
        } catch let error as HostingError {
            throw error.failure
        } catch {
            live.abandon(arrival, why: "\(error)")
            throw HTTPFailure(status: .badRequest, message: "the body of \(key.path) broke off: \(error)")
        }
        do { try live.endPart(arrival) } catch { throw error.failure }
        return arrival.count
    }

    /// A file of a live title hosted here, straight from the live store: a part or segment that
    /// is about to arrive is waited for; a viewer's media playlist comes from memory, made for its
    /// token (whole or as a delta update).
    func serveLive(
        _ request: Request, key: CacheKey, kind: MediaKind, query: Substring?, token: String?, gate: TokenGate, live: LiveHostedStore
    ) async throws(HTTPFailure) -> Response {
        let started = ContinuousClock.now
        if case .playlist = kind, key.path != "master.m3u8" {
            let delta = try Self.wantsDelta(query)
            try await Self.holdReload(key: key, query: query) { rung, sequence, part in
                await live.reload(content: key.content, rung: rung, sequence: sequence, part: part)
            }
            metrics.countLive(path: key.path, playlist: true)
            // A viewer's playlist comes from memory, made for its token.
            if let token, !(gate.scope(of: token)?.isEdge ?? false), let rung = LiveRelay.rung(of: key.path),
                let ready = LivePlaylistSource.hosted(live).playlist(content: key.content, rung: rung, delta: delta, token: token)
            {
                return viewerPlaylist(
                    key: key, bytes: ready.bytes, blocking: QueryParameters.value("_HLS_msn", in: query) != nil, head: request.method == .head,
                    targetDuration: ready.targetDuration, token: token, gate: gate, started: started
                ).response
            }
        } else {
            metrics.countLive(path: key.path, playlist: { if case .playlist = kind { true } else { false } }())
        }
        let data: Data
        switch await live.read(content: key.content, path: key.path) {
        case nil: throw .notFound("\(key.content)/\(key.path) is not here (live: it left the window, or is not made yet)")
        case .arriving(let file):
            // A viewer's bytes are claimed once they have all gone out.
            return Self.streaming(request, file) { bytes in
                if let token { self.count(.ok, bytes: bytes, key: key, token: token, gate: gate, ttfb: ContinuousClock.now - started) }
            }
        case .whole(let whole): data = whole
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
        if let token, request.method != .head {
            count(.ok, bytes: body.readableBytes, key: key, token: token, gate: gate, ttfb: ContinuousClock.now - started)
        }
        return Response(status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: body))
    }

    /// A playlist of a live title delivered here without being hosted here: the relay's copy
    /// (after a blocking reload is satisfied), made for a viewer's token, or as it came for a
    /// delivery edge that fills from this one.
    func serveRelayed(
        _ request: Request, key: CacheKey, rung: String, query: Substring?, token: String, gate: TokenGate, live: LiveRelay,
        started: ContinuousClock.Instant
    ) async throws(HTTPFailure) -> Response {
        let delta = try Self.wantsDelta(query)
        try await Self.holdReload(key: key, query: query) { rung, sequence, part in
            await live.reload(content: key.content, rung: rung, sequence: sequence, part: part)
        }
        guard let current = live.playlist(content: key.content, rung: rung, delta: delta) else {
            throw .unavailable("\(key.content)/\(key.path) is no longer followed here; ask again")
        }
        let head = request.method == .head
        if gate.scope(of: token)?.isEdge ?? false {
            return livePlaylist(key: key, bytes: ByteBuffer(string: current.text), cacheControl: "no-store", head: head, token: token, gate: gate, started: started).response
        }
        let bytes = LivePlaylistSource.bytes(of: current, token: token, content: key.content)
        return viewerPlaylist(
            key: key, bytes: bytes, blocking: QueryParameters.value("_HLS_msn", in: query) != nil, head: head, targetDuration: current.targetDuration,
            token: token, gate: gate, started: started
        ).response
    }

    /// A live media playlist made for a viewer. An answer to a blocking reload stays a right
    /// answer to that request: it may be kept for six target durations. A plain request wants
    /// the newest each time.
    private func viewerPlaylist(
        key: CacheKey, bytes: ByteBuffer, blocking: Bool, head: Bool, targetDuration: Int, token: String, gate: TokenGate, started: ContinuousClock.Instant
    ) -> Answer {
        let cacheControl = blocking ? "private, max-age=\(6 * targetDuration)" : "private, no-cache"
        return livePlaylist(key: key, bytes: bytes, cacheControl: cacheControl, head: head, token: token, gate: gate, started: started)
    }

    /// A live media playlist's answer, counted for a viewer's claims (an edge's token claims nothing).
    private func livePlaylist(
        key: CacheKey, bytes: ByteBuffer, cacheControl: String, head: Bool, token: String, gate: TokenGate, started: ContinuousClock.Instant
    ) -> Answer {
        var headers = HTTPFields()
        CORS.add(to: &headers)
        headers[.contentType] = "application/vnd.apple.mpegurl"
        headers[.cacheControl] = cacheControl
        headers[.contentLength] = String(bytes.readableBytes)
        if !head { count(.ok, bytes: bytes.readableBytes, key: key, token: token, gate: gate, ttfb: ContinuousClock.now - started) }
        return Answer(status: .ok, headers: headers, body: head ? .none : .buffers([bytes]))
    }

    /// A part still arriving: a 200 of unknown length whose bytes leave as they come (DATA frames
    /// on HTTP/2, chunks on HTTP/1.1); an upload that breaks off resets the response.
    private static func streaming(_ request: Request, _ file: GrowingFile<ByteBuffer>, sent: @escaping @Sendable (Int) -> Void) -> Response {
        var headers = HTTPFields()
        CORS.add(to: &headers)
        headers[.contentType] = "video/mp2t"
        headers[.cacheControl] = "private, max-age=60"
        guard request.method != .head else { return Response(status: .ok, headers: headers, body: .init()) }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var bytes = 0
            try await file.read {
                bytes += $0.readableBytes
                try await writer.write($0)
            }
            try await writer.finish(nil)
            sent(bytes)
        })
    }

    /// Whether a playlist request asks for a delta update (`_HLS_skip=YES`, or `v2`: there are no
    /// date ranges to skip); any other value is 400.
    static func wantsDelta(_ query: Substring?) throws(HTTPFailure) -> Bool {
        guard let value = QueryParameters.value("_HLS_skip", in: query) else { return false }
        guard value == "YES" || value == "v2" else { throw .badRequest("_HLS_skip must be YES or v2, not '\(value.prefix(32))'") }
        return true
    }


    /// A blocking playlist reload (RFC 8216bis 6.2.5.2): `_HLS_msn=M[&_HLS_part=P]` waits until
    /// the playlist has that segment (or part); `_HLS_part` alone, or a bad number, is 400; more
    /// than two segments ahead is 400; nothing within three target durations is 503.
    static func holdReload(
        key: CacheKey, query: Substring?, reload: (_ rung: String, _ sequence: Int, _ part: Int?) async -> LiveReload
    ) async throws(HTTPFailure) {
        guard let wanted = try reloadWanted(query) else { return }
        let rung = String(key.path.split(separator: "/").first ?? "")
        if let failure = failure(await reload(rung, wanted.sequence, wanted.part), sequence: wanted.sequence) { throw failure }
    }

    /// The segment (and part) a blocking reload asks for; nil for a plain request.
    static func reloadWanted(_ query: Substring?) throws(HTTPFailure) -> (sequence: Int, part: Int?)? {
        let msnText = QueryParameters.value("_HLS_msn", in: query), partText = QueryParameters.value("_HLS_part", in: query)
        guard msnText != nil || partText != nil else { return nil }
        guard let msnText else { throw .badRequest("_HLS_part needs _HLS_msn") }
        guard let msn = Int(msnText), msn >= 0, partText.map({ Int($0).map { $0 >= 0 } ?? false }) ?? true else {
            throw .badRequest("_HLS_msn and _HLS_part must be whole numbers")
        }
        return (msn, partText.flatMap { Int($0) })
    }

    /// The failure a blocking reload for segment `sequence` came to, or nil when it is ready.
    static func failure(_ reload: LiveReload, sequence: Int) -> HTTPFailure? {
        switch reload {
        case .ready: nil
        case .tooFar: .badRequest("_HLS_msn=\(sequence) is more than two segments past the newest")
        case .timedOut: .unavailable("segment \(sequence) did not come within three target durations")
        }
    }

    /// A viewer's playlist of a live rung this edge hosts or relays, answered without a task (the
    /// HTTP/2 handler asks on its event loop, for a request ``immediateAnswer(to:hasBody:)``
    /// left): at once when it can be, else once the playlist here has what the blocking reload
    /// asks for (or three target durations passed). `reply` is called on whatever thread
    /// announced it, with what makes the answer: the handler makes it on the connection's event
    /// loop, so thousands of waiters released by one announcement are answered by every event
    /// loop, and one whose stream is gone is never made (nor claimed).
    /// - Returns: false when the request is not one (a HEAD, an edge's token, a token not
    ///   verified yet, a rung neither hosted here nor followed yet): the task path answers it.
    func livePlaylistAnswer(to request: HTTPRequest, reply: @escaping @Sendable (_ make: @escaping @Sendable () -> Answer) -> Void) -> Bool {
        guard request.method == .get, let gate, hosting?.live != nil || liveRelay != nil, request.path?.contains("/index.m3u8") ?? false,
            let (path, query) = MediaRequest.split(target: request.path ?? "/"),
            let media = try? MediaRequest(
                method: .get, path: path, query: query, authorization: request.headerFields[.authorization], hasBody: false, keysRelayed: true),
            case .media(let key, .playlist) = media.target, let rung = LiveRelay.rung(of: key.path), let token = media.token,
            gate.allowsRemembered(token, content: key.content), case .viewer = gate.scope(of: token)
        else { return false }
        // The same choice as the task path (``serve``): a live title hosted here is served from its
        // store, with its playlist's template; otherwise from the relay's copy.
        let source: LivePlaylistSource
        if let hosted = hosting?.live, hosted.serves(content: key.content, path: key.path) {
            guard hosting?.store.manifest(key.content) == nil, hosted.viewerPlaylist(content: key.content, rung: rung, delta: false) != nil else { return false }
            source = .hosted(hosted)
        } else if let relay = liveRelay, relay.follows(content: key.content, rung: rung) {
            source = .relayed(relay)
        } else {
            return false
        }
        let started = ContinuousClock.now
        let wanted: (sequence: Int, part: Int?)?
        let delta: Bool
        do {
            wanted = try Self.reloadWanted(media.query)
            delta = try Self.wantsDelta(media.query)
        } catch {
            reply { error.answer }
            return true
        }
        let answer: @Sendable (LiveReload) -> Void = { reload in
            reply {
                if let wanted, let failure = Self.failure(reload, sequence: wanted.sequence) { return failure.answer }
                guard let current = source.playlist(content: key.content, rung: rung, delta: delta, token: token) else {
                    return HTTPFailure.unavailable("\(key.content)/\(key.path) is no longer here; ask again").answer
                }
                if case .hosted = source { self.metrics.countLive(path: key.path, playlist: true) }
                return self.viewerPlaylist(
                    key: key, bytes: current.bytes, blocking: wanted != nil, head: false, targetDuration: current.targetDuration, token: token,
                    gate: gate, started: started)
            }
        }
        guard let wanted else {
            answer(.ready)
            return true
        }
        source.whenReloaded(content: key.content, rung: rung, sequence: wanted.sequence, part: wanted.part, then: answer)
        return true
    }
}

/// Where a live rung's playlist comes from on this edge: its live store (hosted) or the relay's
/// copy (delivered).
private enum LivePlaylistSource: Sendable {
    case hosted(LiveHostedStore)
    case relayed(LiveRelay)

    func whenReloaded(content: String, rung: String, sequence: Int, part: Int?, then done: @escaping @Sendable (LiveReload) -> Void) {
        switch self {
        case .hosted(let store): store.whenReloaded(content: content, rung: rung, sequence: sequence, part: part, then: done)
        case .relayed(let relay): relay.whenReloaded(content: content, rung: rung, sequence: sequence, part: part, then: done)
        }
    }

    /// The newest playlist made for `token` (a delta update when `delta` asks for one and it
    /// offers them), and its target duration; nil when there is none any more.
    func playlist(content: String, rung: String, delta: Bool, token: String) -> (bytes: ByteBuffer, targetDuration: Int)? {
        switch self {
        case .hosted(let store):
            return store.viewerPlaylist(content: content, rung: rung, delta: delta).map { (ByteBuffer(bytes: $0.template.filled(with: token)), $0.targetDuration) }
        case .relayed(let relay):
            guard let current = relay.playlist(content: content, rung: rung, delta: delta) else { return nil }
            return (Self.bytes(of: current, token: token, content: content), current.targetDuration)
        }
    }

    /// A relayed copy made for `token`: from its template, or rewritten when it has none.
    static func bytes(of copy: (text: String, template: TokenTemplate?, targetDuration: Int), token: String, content: String) -> ByteBuffer {
        copy.template.map { ByteBuffer(bytes: $0.filled(with: token)) } ?? ByteBuffer(string: PlaylistRewriter.rewrite(copy.text, token: token, content: content))
    }
}
