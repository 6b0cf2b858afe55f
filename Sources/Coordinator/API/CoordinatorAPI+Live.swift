import DePINProtocol
import Foundation
import Crypto
import Hummingbird

extension CoordinatorAPI {
    /// Live titles, all with the admin token (the publisher's ingest calls them):
    ///
    /// - `POST /v1/live`: a title about to stream and its content key; the answer is its stream
    ///   key (shown once: only its SHA-256 is kept) and the hosting edges nearest the ingest, each
    ///   with an upload token.
    /// - `POST /v1/live/{id}/check`: whether a pusher's stream key is the title's now (200, or 403).
    /// - `POST /v1/live/{id}/stream-key`: a new stream key; the old one stops working at once.
    /// - `POST /v1/live/{id}/hosts`: another host for one that went away mid-stream.
    /// - `POST /v1/live/{id}/end`: the stream ended; its recording (when there is one) is
    ///   registered as a published title, answered as `POST /v1/contents` is.
    ///
    /// Viewers of a streaming title are routed to their nearest edges as for any title (an edge
    /// that does not host it gets a delivery task with its hosts as sources, and follows it from
    /// them), and fetch its key (`GET /v1/hls-key/{id}`) as for any title.
    func liveRoutes() -> RouteCollection<CoordinatorContext> {
        let routes = RouteCollection(context: CoordinatorContext.self)
        let live = routes.group("v1/live").add(middleware: admin)
        live.post { request, context in
            let registration: LiveRegistration = try await Self.decode(request)
            guard Identifier.isValid(registration.id) else { throw APIError(.badRequest, "id '\(registration.id.prefix(64))' \(Identifier.rule)") }
            guard let key = Data(base64Encoded: registration.key), key.count == 16 else {
                throw APIError(.badRequest, "key must be the 16-byte AES-128 content key in base64")
            }
            let place = GeoPoint(latitude: registration.latitude, longitude: registration.longitude)
            guard place.isValid else { throw APIError(.badRequest, "latitude/longitude \(registration.latitude), \(registration.longitude) is not a place on Earth") }
            let streamKey = StreamKey.make()
            let record = LiveRecord(
                id: registration.id, sealedKey: try vault.seal(Array(key), content: registration.id), streamKeyHash: Self.hash(streamKey),
                latitude: place.latitude, longitude: place.longitude, createdAt: Int64(Date().timeIntervalSince1970))
            do {
                try await store.saveLive(record)
            } catch let failure as StoreFailure where failure.code == .duplicate {
                throw APIError(.conflict, failure.message)
            }
            let hosts = try await uploadTokens(for: board.liveHosts(for: registration.id, near: place), content: registration.id)
            return try Self.encode(LiveRegistrationAnswer(id: registration.id, streamKey: streamKey, hosts: hosts), status: .created)
        }
        live.post(":id/check") { request, context in
            let record = try await liveTitle(context)
            let check: StreamKeyCheck = try await Self.decode(request)
            guard AdminOnly.same(Array(Self.hash(check.streamKey).utf8), Array(record.streamKeyHash.utf8)) else {
                throw APIError(.forbidden, "wrong or revoked stream key for \(record.id)")
            }
            return try Self.json(["id": record.id, "streamKey": "valid"])
        }
        live.post(":id/stream-key") { request, context in
            let record = try await liveTitle(context)
            let streamKey = StreamKey.make()
            guard try await store.rotateStreamKey(id: record.id, hash: Self.hash(streamKey)) else { throw APIError(.conflict, "\(record.id) has ended") }
            return try Self.json(["id": record.id, "streamKey": streamKey])
        }
        live.post(":id/hosts") { request, context in
            let record = try await liveTitle(context)
            let ask: LiveHostRequest = try await Self.decode(request)
            guard ask.exclude.count <= 100, (ask.gone?.count ?? 0) <= 100 else { throw APIError(.badRequest, "exclude at most 100 hosts") }
            let place = GeoPoint(latitude: record.latitude, longitude: record.longitude)
            let chosen = board.liveHosts(for: record.id, near: place, count: 1, excluding: Set(ask.exclude), gone: Set(ask.gone ?? ask.exclude))
            let hosts = try await uploadTokens(for: chosen, content: record.id)
            guard !hosts.isEmpty else { throw APIError(.serviceUnavailable, "no other edge may host \(record.id) now") }
            return try Self.encode(ContentRegistrationAnswer(id: record.id, hosts: hosts))
        }
        live.post(":id/end") { request, context in
            let record = try await liveTitle(context)
            let end: LiveEnd = try await Self.decode(request, limit: StrictJSON.maxManifestBytes)
            if let recording = end.recording {
                guard recording.id == record.id else { throw APIError(.badRequest, "the recording is of \(recording.id), not \(record.id)") }
                do { try recording.validate() } catch { throw APIError(.badRequest, "recording: \(error)") }
            }
            // The recording is stored first: should that fail, the title still streams and the
            // ingest may try again.
            var answer: ContentRegistrationAnswer?
            if let recording = end.recording { answer = try await register(recording, sealedKey: record.sealedKey) }
            _ = try await store.endLive(id: record.id, at: Int64(Date().timeIntervalSince1970))
            board.endLive(record.id)
            return try Self.encode(answer ?? ContentRegistrationAnswer(id: record.id, hosts: []), status: answer == nil ? .ok : .created)
        }
        return routes
    }

    /// The live title the path names; 404 when there is none, 409 when it has ended.
    private func liveTitle(_ context: CoordinatorContext) async throws -> LiveRecord {
        let id = context.parameters.get("id") ?? ""
        guard Identifier.isValid(id) else { throw APIError(.badRequest, "'\(id.prefix(64))' is not a content id") }
        guard let record = try await store.live(id: id) else { throw APIError(.notFound, "no live title \(id)") }
        guard record.state == .live else { throw APIError(.conflict, "\(id) has ended") }
        return record
    }

    private static func hash(_ streamKey: String) -> String { JSONText.hex(SHA256.hash(data: Array(streamKey.utf8))) }
}
