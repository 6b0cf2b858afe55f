import DePINProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension CoordinatorAPI {
    /// What browsers and app players call besides `/v1/route` and `/v1/hls-key`:
    ///
    /// - `GET /watch/{content}`: the watch page (see ``WatchPage``).
    /// - `POST /v1/viewer-events`: a player reporting that an edge failed it:
    ///   `{"token": T, "edge": NODE, "reason": "...", "position": seconds}` (or the token as
    ///   `Authorization: Bearer`). Counted once per session and edge (see ``ViewerSessions``).
    /// - `GET /v1/steering/{content}?token=T`: the session's HLS Content Steering manifest
    ///   (`VERSION`, `TTL`, `RELOAD-URI`, `PATHWAY-PRIORITY`): its route answer's edges, nearest
    ///   first, those it reported failing and those no longer routed to last. Pathway ids are
    ///   node ids.
    /// - `GET /v1/pathways/{content}?token=T`: the same edges with their URLs, for the edge that
    ///   writes the session's master playlist with a variant set per pathway.
    func viewerRoutes() -> RouteCollection<CoordinatorContext> {
        let routes = RouteCollection(context: CoordinatorContext.self)
        routes.get("watch/:content") { request, context in
            let content = context.parameters.get("content") ?? ""
            var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
            headers[.contentSecurityPolicy] = WatchPage.securityPolicy
            headers[.xContentTypeOptions] = "nosniff"
            let notFound = Response(status: .notFound, headers: headers, body: .init(byteBuffer: ByteBuffer(string: WatchPage.notFound(content: content))))
            guard Identifier.isValid(content) else { return notFound }
            let manifest: ContentManifest?
            do {
                guard let title = try await board.catalog.title(content) else { return notFound }
                manifest = title.manifest
            } catch let failure as StoreFailure where failure.code == .corrupt {
                manifest = nil  // The page plays without the facts line.
            }
            let page = WatchPage.html(content: content, manifest: manifest)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page)))
        }
        routes.post("v1/viewer-events") { request, context in
            let event: ViewerEvent = try await Self.decode(request, limit: 4096)
            guard event.kind == nil || event.kind == "edge-failed" else {
                throw APIError(.badRequest, "kind must be edge-failed (the only event players report)")
            }
            guard let token = event.token ?? Self.bearer(request), !token.isEmpty else {
                throw APIError(.unauthorized, "a playback token is required (\"token\" in the body, or Authorization: Bearer)")
            }
            let claims = try await viewerToken(token)
            guard Identifier.isValid(event.edge), event.edge.count <= 64 else { throw APIError(.badRequest, "edge must be a node id") }
            let reason = event.reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !reason.isEmpty, reason.count <= 200 else { throw APIError(.badRequest, "reason must be 1 to 200 characters") }
            if let position = event.position, !(position.isFinite && position >= 0) { throw APIError(.badRequest, "position must be seconds, not negative") }
            let remembered = viewers.session(claims.session)
            if let remembered, !remembered.edges.contains(event.edge) {
                throw APIError(.badRequest, "edge \(event.edge) was not in this session's route answer")
            }
            if remembered == nil, registry.known(event.edge) == nil { throw APIError(.notFound, "no edge \(event.edge)") }
            let now = Int64(Date().timeIntervalSince1970)
            let counted = viewers.reportFailure(session: claims.session, content: claims.content, edge: event.edge, reason: reason, now: now)
            let reports = viewers.reports(for: event.edge, now: now)
            return try Self.encode(
                ViewerEventAnswer(
                    session: claims.session, edge: event.edge, counted: counted, recentFailures: reports.recent,
                    suspect: reports.recent >= viewers.policy.suspectSessions),
                status: .accepted)
        }
        routes.get("v1/steering/:content") { request, context in
            let (content, token, claims) = try await steeringRequest(request, context: context)
            let pathways = try pathways(session: claims.session, content: content, request: request, context: context)
            var reload = URLComponents()
            reload.path = "/v1/steering/\(content)"
            reload.queryItems = [URLQueryItem(name: "token", value: token)]
            let manifest = SteeringManifest(
                version: 1, ttl: steeringTTL, reloadURI: reload.string ?? "", pathwayPriority: pathways.map(\.id))
            return try Self.encode(manifest)
        }
        routes.get("v1/pathways/:content") { request, context in
            let (content, _, claims) = try await steeringRequest(request, context: context)
            let pathways = try pathways(session: claims.session, content: content, request: request, context: context)
            return try Self.encode(SessionPathways(session: claims.session, pathways: pathways))
        }
        return routes
    }

    /// Seconds a player keeps a steering manifest before it reloads it.
    var steeringTTL: Int { 10 }

    /// The title, the token and its verified claims of a steering or pathways request.
    private func steeringRequest(_ request: Request, context: CoordinatorContext) async throws -> (String, String, PlaybackToken) {
        let content = context.parameters.get("content") ?? ""
        guard Identifier.isValid(content) else { throw APIError(.badRequest, "'\(content.prefix(64))' is not a content id") }
        let token = try Self.playbackToken(request)
        let claims = try await viewerToken(token, content: content)
        return (content, token, claims)
    }

    /// The session's pathways in steering order: its route answer's edges that are still routed
    /// to, nearest first; then those no longer routed to; then those its player reported
    /// failing. A session this coordinator does not remember gets a new route from where its
    /// current pathway's edge is (`_HLS_pathway`), or from the viewer's address.
    private func pathways(session: String, content: String, request: Request, context: CoordinatorContext) throws -> [SessionPathways.Pathway] {
        var edges: [String]
        var failed: [String] = []
        if let remembered = viewers.session(session), !remembered.edges.isEmpty {
            (edges, failed) = (remembered.edges, remembered.failed)
        } else {
            let current = request.uri.queryParameters["_HLS_pathway"].flatMap { registry.known(String($0)) }
            let place =
                current.map { GeoPoint(latitude: $0.latitude, longitude: $0.longitude) }
                ?? context.remoteAddress?.ipAddress.flatMap { prefixes.place(of: $0) }
            guard let place else {
                throw APIError(.notFound, "this coordinator does not remember session \(session.prefix(80)); look up /v1/route again")
            }
            edges = registry.route(content: content, from: place, limit: 5).map(\.id)
            viewers.remember(session: session, content: content, edges: edges)
            failed = viewers.session(session)?.failed ?? []
        }
        let routed = edges.filter { !failed.contains($0) && registry.eligible($0, for: .delivery) != nil }
        let unrouted = edges.filter { !failed.contains($0) && !routed.contains($0) }
        let order = routed + unrouted + failed.filter { edges.contains($0) }
        return order.compactMap { id in registry.known(id).map { SessionPathways.Pathway(id: id, url: $0.url) } }
    }

    /// Verifies a viewer's playback token (for `content`, when given): genuine, unexpired, and
    /// a viewer's, not one the coordinator gave an edge to upload or fill with (those open no
    /// keys: hosts prove storage without ever holding a title's key).
    func viewerToken(_ token: String, content: String? = nil) async throws -> PlaybackToken {
        let claims: PlaybackToken
        do {
            if let content { claims = try await vault.tokens.verify(token, for: content) } else { claims = try await vault.tokens.verify(token) }
        } catch let error as TokenError {
            throw APIError(error.code == .wrongContent ? .forbidden : .unauthorized, error.message)
        }
        guard !TokenScope(subject: claims.session).isEdge else {
            throw APIError(.forbidden, "this token was given to an edge to upload or fill with; keys, events and steering are for viewers' tokens from /v1/route")
        }
        return claims
    }

    static func bearer(_ request: Request) -> String? {
        request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
    }

    /// The viewer's token: `?token=` or `Authorization: Bearer`.
    /// - Throws: 401 when there is none.
    static func playbackToken(_ request: Request) throws -> String {
        guard let token = request.uri.queryParameters["token"].map(String.init) ?? bearer(request), !token.isEmpty else {
            throw APIError(.unauthorized, "a playback token is required (?token= or Authorization: Bearer)")
        }
        return token
    }
}

/// `POST /v1/viewer-events`.
struct ViewerEvent: Codable, KnownFields {
    /// `edge-failed` (the default).
    var kind: String?
    var token: String?
    var edge: String
    var reason: String
    /// Where playback was, seconds.
    var position: Double?
    static let knownFields: Set<String> = ["kind", "token", "edge", "reason", "position"]
}

/// The answer to a viewer event.
struct ViewerEventAnswer: Codable {
    var session: String
    var edge: String
    /// False when this session had reported this edge already.
    var counted: Bool
    /// Distinct sessions that reported the edge within the health window.
    var recentFailures: Int
    /// True when route answers now put the edge after the others.
    var suspect: Bool
}

/// An HLS Content Steering manifest (Apple's HLS Content Steering specification, version 1).
struct SteeringManifest: Codable {
    var version: Int
    var ttl: Int
    var reloadURI: String
    var pathwayPriority: [String]

    enum CodingKeys: String, CodingKey {
        case version = "VERSION"
        case ttl = "TTL"
        case reloadURI = "RELOAD-URI"
        case pathwayPriority = "PATHWAY-PRIORITY"
    }
}
