import Crypto
import DePINProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The coordinator's versioned JSON API under `/v1`.
///
/// - `POST /v1/nodes`: register (signed by the node's key; see ``SignedRequest``).
/// - `POST /v1/heartbeat`: report load, free cache and health (signed).
/// - `GET /v1/nodes/{id}`: a node's registration, stake and whether (or why not) it is routed to.
/// - `POST /v1/admin/ledger`: record a deposit, bond, unbond, release or slash (admin token).
/// - `GET /v1/route?content=ID&(lat=..&lon=..|region=NAME)[&limit=N]`: the nearest eligible
///   edges and a playback token bound to the title and a new session. With neither, the
///   viewer's address is placed through the configured ``GeoPrefixTable``.
/// - `GET /v1/keys/coordinator`: the coordinator's Ed25519 public key.
/// - `POST /v1/contents`: register a published title and its content key (admin token); the
///   answer names the edges chosen to host it, each with an upload token.
/// - `POST /v1/tasks` (signed): an edge's long poll for its hosting, transcoding and delivery
///   tasks, and its reports of titles it now hosts.
/// - `POST /v1/leases` (signed): a title's key, sealed to the edge, for an edge with a
///   transcoding task for it.
/// - `GET /v1/hls-key/{content}?token=T` (or `Authorization: Bearer T`): the 16-byte AES key.
/// - `POST /v1/claims` (signed): an edge's delivery claims; the answer has a signed receipt for
///   each accepted claim and a reason for each refused one (see ``ClaimBook``).
/// - `POST /v1/challenges` (signed): a host's answer to a proof-of-retrievability challenge
///   (handed out with its tasks); the verdict and its reputation (see ``Challenger``).
/// - `POST /v1/transcodes` (signed): rendition segments an edge made, each with its size and
///   SHA-256; a sample is held for an audit (see ``TranscodeAuditor``).
/// - `POST /v1/probes` (signed): a node's answer to a capacity probe (handed out with its
///   tasks); the cores it showed (see ``CapacityProber``).
/// - `POST /v1/admin/revenue` (admin token): revenue for an epoch (subscriptions, ads,
///   purchases, token fees); `GET /v1/epochs`, `GET /v1/epochs/{n}` (the whole settlement) and
///   `GET /v1/epochs/{n}/miners/{id}` (one payout and every input behind it).
/// - `GET /healthz`.
///
/// Each feature is a route collection of its own (`CoordinatorAPI+Nodes`, `+Work`, `+Contents`,
/// `+Rewards`, `+Viewers`); node requests are authenticated by the ``SignedByNode`` middleware
/// and admin requests by ``AdminOnly``, before their handlers run. Every error is JSON
/// `{"error": "..."}` with the status that fits (400, 401, 403, 404, 409, 413, 503), rendered by
/// the error itself (``APIError``, ``RegistryError``, ``StoreFailure``); nothing is written when
/// a request is refused.
package struct CoordinatorAPI: Sendable {
    let registry: Registry
    /// The titles, epochs and challenges the API reads and writes itself.
    let store: any CatalogStore & LiveStore & EpochStore & ChallengeStore
    let board: TaskBoard
    let claims: ClaimBook
    let challenger: Challenger
    let prober: CapacityProber
    let auditor: TranscodeAuditor
    let epochs: EpochBook
    let vault: KeyVault
    /// How long a playback token (and an upload or fill token) is valid, seconds.
    let tokenLifetime: TimeInterval
    /// How long a key lease is valid, seconds.
    let leaseLifetime: Int64
    /// Lets admin requests through (the admin token, compared in constant time).
    let admin: AdminOnly
    /// Places viewers that give neither coordinates nor a region, by address.
    let prefixes: GeoPrefixTable
    /// Viewers' sessions: their route answers and the edges their players reported failing.
    let viewers: ViewerSessions
    /// Origins whose pages may call the viewer endpoints (`*`: any).
    let corsOrigins: [String]
    /// Per-address limits on the public endpoints.
    let rateLimiter: ClientRateLimiter
    /// What the dashboard's pages share between requests.
    let dashboardMemo = DashboardMemo()

    package init(
        registry: Registry, store: any CatalogStore & LiveStore & EpochStore & ChallengeStore, board: TaskBoard, claims: ClaimBook, challenger: Challenger, prober: CapacityProber, auditor: TranscodeAuditor, epochs: EpochBook, vault: KeyVault, tokenLifetime: TimeInterval = 6 * 3600, leaseLifetime: Int64 = 3600,
        adminToken: String?, prefixes: GeoPrefixTable = GeoPrefixTable(), viewers: ViewerSessions = ViewerSessions(), corsOrigins: [String] = ["*"],
        rateLimit: ClientRateLimiter.Policy = .init()
    ) {
        rateLimiter = ClientRateLimiter(policy: rateLimit)
        self.viewers = viewers
        self.corsOrigins = corsOrigins
        self.claims = claims
        self.challenger = challenger
        self.prober = prober
        self.auditor = auditor
        self.epochs = epochs
        self.prefixes = prefixes
        self.registry = registry
        self.store = store
        self.board = board
        self.vault = vault
        self.tokenLifetime = tokenLifetime
        self.leaseLifetime = leaseLifetime
        admin = AdminOnly(token: adminToken)
    }

    package func router() -> Router<CoordinatorContext> {
        let router = Router(context: CoordinatorContext.self)
        // Before every route: Hummingbird wraps each route (and the not-found answer) in the
        // middleware added before it.
        router.add(middleware: ViewerCORS(origins: corsOrigins))
        router.add(middleware: ClientRateLimit(limiter: rateLimiter))
        router.get("healthz") { _, _ in try Self.json(["status": "ok"]) }
        for routes in [nodeRoutes(), workRoutes(), contentRoutes(), liveRoutes(), rewardRoutes(), viewerRoutes(), dashboardRoutes()] { router.addRoutes(routes) }
        return router
    }

    // MARK: -

    static func body(_ request: Request, limit: Int = StrictJSON.maxBytes) async throws -> Data {
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "the body is over \(limit) bytes")
        }
    }

    /// The request's JSON body as `T`, strictly (unknown fields refused).
    /// - Throws: 413 past `limit`, 400 naming what is wrong.
    static func decode<T: Decodable & KnownFields>(_ request: Request, limit: Int = StrictJSON.maxBytes) async throws -> T {
        try decode(from: try await body(request, limit: limit), limit: limit)
    }

    /// `body` as `T`, strictly (unknown fields refused).
    /// - Throws: 400 naming what is wrong.
    static func decode<T: Decodable & KnownFields>(from body: Data, limit: Int = StrictJSON.maxBytes) throws -> T {
        do { return try StrictJSON.decode(T.self, from: body, limit: limit) } catch { throw APIError(.badRequest, "\(error)") }
    }

    static func headers(_ request: Request) -> [String: String] {
        var out: [String: String] = [:]
        for field in request.headers where field.name.canonicalName.hasPrefix("x-depin-") { out[field.name.rawName] = field.value }
        return out
    }

    static func encode(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func json(_ value: [String: String], status: HTTPResponse.Status = .ok) throws -> Response { try encode(value, status: status) }

    /// A response of JSON text already written.
    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
