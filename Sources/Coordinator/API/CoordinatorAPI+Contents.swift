import Crypto
import DePINProtocol
import Foundation
import Hummingbird
import NIOCore

extension CoordinatorAPI {
    /// Titles, their keys, and the way to them:
    ///
    /// - `POST /v1/contents` (admin): register a published title and its content key; the answer
    ///   names the edges chosen to host it, each with an upload token.
    /// - `GET /v1/route?content=ID&(lat=..&lon=..|region=NAME)[&limit=N]`: the nearest eligible
    ///   edges and a playback token bound to the title and a new session. With neither, the
    ///   viewer's address is placed through the configured ``GeoPrefixTable``.
    /// - `GET /v1/hls-key/{content}?token=T` (or `Authorization: Bearer T`): the 16-byte AES key.
    /// - `GET /v1/keys/coordinator`: the coordinator's Ed25519 public key.
    func contentRoutes() -> RouteCollection<CoordinatorContext> {
        let routes = RouteCollection(context: CoordinatorContext.self)
        routes.group("v1/contents").add(middleware: admin).post { request, context in
            let registration: ContentRegistration = try await Self.decode(request, limit: StrictJSON.maxManifestBytes)
            do { try registration.manifest.validate() } catch { throw APIError(.badRequest, "manifest: \(error)") }
            guard let key = Data(base64Encoded: registration.key), key.count == 16 else {
                throw APIError(.badRequest, "key must be the 16-byte AES-128 content key in base64")
            }
            let id = registration.manifest.id
            if let live = try await store.live(id: id), live.state == .live {
                throw APIError(.conflict, "\(id) is streaming live; its recording is registered when the stream ends")
            }
            let answer = try await register(registration.manifest, sealedKey: try vault.seal(Array(key), content: id))
            return try Self.encode(answer, status: .created)
        }
        routes.get("v1/route") { request, context in
            let query = request.uri.queryParameters
            guard let content = query["content"].map(String.init), Identifier.isValid(content) else {
                throw APIError(.badRequest, "content must be a content id (\(Identifier.rule))")
            }
            let viewer: GeoPoint
            if let lat = query["lat"].flatMap({ Double(String($0)) }), let lon = query["lon"].flatMap({ Double(String($0)) }) {
                viewer = GeoPoint(latitude: lat, longitude: lon)
                guard viewer.isValid else { throw APIError(.badRequest, "lat/lon \(lat), \(lon) is not a place on Earth") }
            } else if let region = query["region"].map(String.init) {
                guard let point = Regions.point(region) else { throw APIError(.badRequest, "unknown region '\(region.prefix(40))'") }
                viewer = point
            } else if let address = context.remoteAddress?.ipAddress, let point = prefixes.place(of: address) {
                viewer = point
            } else {
                let address = context.remoteAddress?.ipAddress ?? "unknown"
                throw APIError(.badRequest, "give lat and lon, or region (no geo prefix covers your address \(address))")
            }
            let limit = query["limit"].flatMap { Int(String($0)) } ?? 5
            guard (1...50).contains(limit) else { throw APIError(.badRequest, "limit must be 1 to 50") }
            let now = Int64(Date().timeIntervalSince1970)
            // A live title's viewers too go to their nearest edges, which fill from its hosts.
            let edges = routeDemotingSuspects(content: content, from: viewer, limit: limit, now: now)
            await board.noteRoute(content: content, edges: edges)
            if let first = edges.first { registry.noteViewer(of: content, at: first.id) }
            let session = vault.newSession(content: content, now: now)
            viewers.remember(session: session, content: content, edges: edges.map(\.id))
            let token = try await vault.tokens.issue(content: content, session: session, lifetime: tokenLifetime)
            return Self.json(RouteAnswer(content: content, session: session, token: token, edges: edges).json)
        }
        routes.get("v1/hls-key/:content") { request, context in
            let content = context.parameters.get("content") ?? ""
            guard Identifier.isValid(content) else { throw APIError(.badRequest, "'\(content.prefix(64))' is not a content id") }
            _ = try await viewerToken(try Self.playbackToken(request), content: content)
            // A live title's key is the live record's until its recording is registered.
            let sealed: String
            if let record = try await store.content(id: content) {
                sealed = record.sealedKey
            } else if let live = try await store.live(id: content) {
                sealed = live.sealedKey
            } else {
                throw APIError(.notFound, "no content \(content)")
            }
            let key = try vault.unseal(sealed, content: content)
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream", .cacheControl: "private, no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: key)))
        }
        routes.get("v1/keys/coordinator") { _, _ in
            try Self.encode(CoordinatorKey(id: vault.identity.id, publicKey: vault.identity.publicKey.rawRepresentation))
        }
        return routes
    }

    /// Stores a title, chooses its hosts (each gets a hosting task) and gives each an upload token.
    /// - Throws: 409 when the id is taken.
    func register(_ manifest: ContentManifest, sealedKey: String) async throws -> ContentRegistrationAnswer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(manifest), as: UTF8.self)
        do {
            try await store.saveContent(ContentRecord(id: manifest.id, manifest: text, sealedKey: sealedKey, createdAt: Int64(Date().timeIntervalSince1970)))
        } catch let failure as StoreFailure where failure.code == .duplicate {
            throw APIError(.conflict, failure.message)
        }
        return ContentRegistrationAnswer(id: manifest.id, hosts: try await uploadTokens(for: try await board.assignHosts(manifest), content: manifest.id))
    }

    /// Each host with a token that lets the publisher (or the live ingest) upload `content` to it.
    func uploadTokens(for nodes: [NodeRecord], content: String) async throws -> [ContentRegistrationAnswer.Host] {
        var hosts: [ContentRegistrationAnswer.Host] = []
        for node in nodes {
            let token = try await vault.tokens.issue(content: content, session: TokenScope.host(node: node.id).subject, lifetime: tokenLifetime)
            hosts.append(.init(id: node.id, url: node.url, token: token))
        }
        return hosts
    }

    /// The route table's nearest edges, those that viewers reported failing lately after the
    /// others (looked up with a few more, so a healthy edge can take a suspect's place).
    private func routeDemotingSuspects(content: String, from viewer: GeoPoint, limit: Int, now: Int64) -> [RoutedEdge] {
        guard viewers.anyRecentReports(now: now) else { return registry.route(content: content, from: viewer, limit: limit) }
        let wider = registry.route(content: content, from: viewer, limit: min(limit + 3, 50))
        let order = viewers.demotingSuspects(wider.map(\.id), now: now)
        let byID = Dictionary(wider.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return order.prefix(limit).compactMap { byID[$0] }
    }
}
