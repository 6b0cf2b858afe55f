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
/// Every error is JSON `{"error": "..."}` with the status that fits (400, 401, 403, 404, 409,
/// 413, 503); nothing is written when a request is refused.
package struct CoordinatorAPI: Sendable {
    let registry: Registry
    /// The titles, epochs and challenges the API reads and writes itself.
    let store: any CatalogStore & EpochStore & ChallengeStore
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
    /// SHA-256 of the admin token (compared in constant time).
    let adminTokenDigest: [UInt8]?
    /// Places viewers that give neither coordinates nor a region, by address.
    let prefixes: GeoPrefixTable
    /// Viewers' sessions: their route answers and the edges their players reported failing.
    let viewers: ViewerSessions
    /// Origins whose pages may call the viewer endpoints (`*`: any).
    let corsOrigins: [String]
    /// Per-address limits on the public endpoints.
    let rateLimiter: ClientRateLimiter

    package init(
        registry: Registry, store: any CatalogStore & EpochStore & ChallengeStore, board: TaskBoard, claims: ClaimBook, challenger: Challenger, prober: CapacityProber, auditor: TranscodeAuditor, epochs: EpochBook, vault: KeyVault, tokenLifetime: TimeInterval = 6 * 3600, leaseLifetime: Int64 = 3600,
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
        adminTokenDigest = adminToken.map { Array(Self.digest($0)) }
    }

    package func router() -> Router<CoordinatorContext> {
        let router = Router(context: CoordinatorContext.self)
        // Before every route: Hummingbird wraps each route (and the not-found answer) in the
        // middleware added before it.
        router.add(middleware: ViewerCORS(origins: corsOrigins))
        router.add(middleware: ClientRateLimit(limiter: rateLimiter))
        router.get("healthz") { _, _ in try Self.json(["status": "ok"]) }
        router.post("v1/nodes") { request, context in
            try await answer {
                let body = try await Self.body(request)
                let status = try await registry.register(body: body, headers: Self.headers(request), path: request.uri.path)
                return try Self.encode(NodeView(status), status: .created)
            }
        }
        router.post("v1/heartbeat") { request, context in
            try await answer {
                let body = try await Self.body(request)
                let status = try await registry.heartbeat(body: body, headers: Self.headers(request), path: request.uri.path)
                return try Self.encode(NodeView(status))
            }
        }
        router.get("v1/nodes/:id") { request, context in
            try await answer {
                let id = context.parameters.get("id") ?? ""
                guard let status = try await registry.status(of: id) else { throw APIError(.notFound, "no node \(id.prefix(64))") }
                var view = NodeView(status)
                (view.reputation, view.standing) = try await challenger.reputation(of: id)
                (view.coresMeasured, view.capacity) = try await prober.standing(of: id)
                view.viewerReports = viewers.reports(for: id, now: Int64(Date().timeIntervalSince1970))
                return try Self.encode(view)
            }
        }
        router.post("v1/admin/ledger") { request, context in
            try await answer {
                try authorizeAdmin(request)
                let body = try await Self.body(request)
                let entry: LedgerRequest
                do { entry = try StrictJSON.decode(LedgerRequest.self, from: body) } catch { throw APIError(.badRequest, "\(error)") }
                guard let kind = LedgerEvent.Kind(rawValue: entry.kind) else {
                    throw APIError(.badRequest, "kind '\(entry.kind)' is not deposit, bond, unbond, release or slash")
                }
                guard entry.amount > 0 else { throw APIError(.badRequest, "amount must be a positive number of base units") }
                let balance = try await registry.record(
                    LedgerEvent(node: entry.node, kind: kind, amount: entry.amount, reason: entry.reason, evidence: entry.evidence, at: Int64(Date().timeIntervalSince1970)))
                return try Self.encode(StakeView(balance))
            }
        }
        router.get("v1/route") { request, context in
            try await answer {
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
                let edges = routeDemotingSuspects(content: content, from: viewer, limit: limit, now: now)
                await board.noteRoute(content: content, edges: edges)
                let session = vault.newSession(content: content, now: now)
                viewers.remember(session: session, content: content, edges: edges.map(\.id))
                let token = try await vault.tokens.issue(content: content, session: session, lifetime: tokenLifetime)
                return Self.json(RouteAnswer(content: content, session: session, token: token, edges: edges).json)
            }
        }
        router.get("v1/keys/coordinator") { _, _ in
            let key = vault.identity.publicKey.rawRepresentation
            return try Self.encode(CoordinatorKey(
                id: vault.identity.id, publicKey: key.base64EncodedString(), kty: "OKP", crv: "Ed25519", alg: "EdDSA",
                x: key.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                    .replacingOccurrences(of: "=", with: "")))
        }
        router.post("v1/contents") { request, context in
            try await answer {
                try authorizeAdmin(request)
                let body = try await Self.body(request, limit: StrictJSON.maxManifestBytes)
                let registration: ContentRegistration
                do {
                    registration = try StrictJSON.decode(ContentRegistration.self, from: body, limit: StrictJSON.maxManifestBytes)
                } catch {
                    throw APIError(.badRequest, "\(error)")
                }
                do { try registration.manifest.validate() } catch { throw APIError(.badRequest, "manifest: \(error)") }
                guard let key = Data(base64Encoded: registration.key), key.count == 16 else {
                    throw APIError(.badRequest, "key must be the 16-byte AES-128 content key in base64")
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let manifest = String(decoding: try encoder.encode(registration.manifest), as: UTF8.self)
                let id = registration.manifest.id
                do {
                    try await store.saveContent(
                        ContentRecord(id: id, manifest: manifest, sealedKey: try vault.seal(Array(key), content: id), createdAt: Int64(Date().timeIntervalSince1970)))
                } catch let failure as StoreFailure where failure.code == .duplicate {
                    throw APIError(.conflict, failure.message)
                }
                var hosts: [ContentRegistrationAnswer.Host] = []
                for node in try await board.assignHosts(registration.manifest) {
                    let token = try await vault.tokens.issue(content: id, session: TokenScope.host(node: node.id).subject, lifetime: tokenLifetime)
                    hosts.append(.init(id: node.id, url: node.url, token: token))
                }
                return try Self.encode(ContentRegistrationAnswer(id: id, hosts: hosts), status: .created)
            }
        }
        router.post("v1/tasks") { request, context in
            try await answer {
                let body = try await Self.body(request)
                let poll: TaskPollRequest
                do { poll = try StrictJSON.decode(TaskPollRequest.self, from: body) } catch { throw APIError(.badRequest, "\(error)") }
                guard (0...60).contains(poll.wait), poll.after >= 0, poll.hosted.count <= 1000 else {
                    throw APIError(.badRequest, "wait must be 0 to 60 seconds, after not negative, at most 1000 hosted titles")
                }
                let node = try await registry.authenticate(body: body, headers: Self.headers(request), path: request.uri.path)
                for content in poll.hosted {
                    guard Identifier.isValid(content), try await board.hosted(node: node.id, content: content) else {
                        throw APIError(.badRequest, "node \(node.id) has no hosting task for '\(content.prefix(64))'")
                    }
                }
                let tasks = try await board.poll(node: node.id, after: poll.after, wait: .seconds(poll.hosted.isEmpty ? poll.wait : 0))
                return try Self.encode(try await taskAnswer(tasks, for: node))
            }
        }
        router.post("v1/claims") { request, context in
            try await answer {
                let body = try await Self.body(request, limit: ClaimBatch.maxBytes)
                let batch: ClaimBatch
                do { batch = try StrictJSON.decode(ClaimBatch.self, from: body, limit: ClaimBatch.maxBytes) } catch { throw APIError(.badRequest, "\(error)") }
                guard !batch.claims.isEmpty, batch.claims.count <= ClaimBatch.maxClaims else {
                    throw APIError(.badRequest, "a batch holds 1 to \(ClaimBatch.maxClaims) claims")
                }
                // Claims are counted once by id: a replayed request gets the same answer, so no nonce is stored.
                let node = try await registry.authenticate(body: body, headers: Self.headers(request), path: request.uri.path, onceOnly: false)
                return try Self.encode(try await claims.submit(batch.claims, from: node.id))
            }
        }
        router.post("v1/challenges") { request, context in
            try await answer {
                let body = try await Self.body(request, limit: ChallengeResponse.maxBytes)
                let response: ChallengeResponse
                do {
                    response = try StrictJSON.decode(ChallengeResponse.self, from: body, limit: ChallengeResponse.maxBytes)
                } catch {
                    throw APIError(.badRequest, "\(error)")
                }
                let node = try await registry.authenticate(body: body, headers: Self.headers(request), path: request.uri.path)
                return try Self.encode(try await challenger.answer(response, from: node.id))
            }
        }
        router.post("v1/transcodes") { request, context in
            try await answer {
                let body = try await Self.body(request, limit: TranscodeReportBatch.maxBytes)
                let batch: TranscodeReportBatch
                do {
                    batch = try StrictJSON.decode(TranscodeReportBatch.self, from: body, limit: TranscodeReportBatch.maxBytes)
                } catch {
                    throw APIError(.badRequest, "\(error)")
                }
                guard !batch.made.isEmpty, batch.made.count <= TranscodeReportBatch.maxReports else {
                    throw APIError(.badRequest, "a report holds 1 to \(TranscodeReportBatch.maxReports) rendition segments")
                }
                // Reports are recorded once by (node, title, rendition, segment): a replayed request changes nothing.
                let node = try await registry.authenticate(body: body, headers: Self.headers(request), path: request.uri.path, onceOnly: false)
                return try Self.encode(try await auditor.report(batch.made, from: node.id))
            }
        }
        router.post("v1/probes") { request, context in
            try await answer {
                let body = try await Self.body(request, limit: WorkProbeAnswer.maxBytes)
                let probeAnswer: WorkProbeAnswer
                do {
                    probeAnswer = try StrictJSON.decode(WorkProbeAnswer.self, from: body, limit: WorkProbeAnswer.maxBytes)
                } catch {
                    throw APIError(.badRequest, "\(error)")
                }
                let node = try await registry.authenticate(body: body, headers: Self.headers(request), path: request.uri.path)
                return try Self.encode(try await prober.answer(probeAnswer, from: node.id))
            }
        }
        addRewardRoutes(to: router)
        addViewerRoutes(to: router)
        router.post("v1/leases") { request, context in
            try await answer {
                let body = try await Self.body(request)
                let lease: LeaseRequest
                do { lease = try StrictJSON.decode(LeaseRequest.self, from: body) } catch { throw APIError(.badRequest, "\(error)") }
                guard Identifier.isValid(lease.content) else { throw APIError(.badRequest, "content must be a content id (\(Identifier.rule))") }
                guard let recipient = Data(base64Encoded: lease.leaseKey), recipient.count == 32 else {
                    throw APIError(.badRequest, "leaseKey must be a raw X25519 public key (32 bytes, base64)")
                }
                let node = try await registry.authenticate(body: body, headers: Self.headers(request), path: request.uri.path)
                guard let record = try await store.content(id: lease.content) else { throw APIError(.notFound, "no content \(lease.content)") }
                guard try await board.mayTranscode(node: node.id, content: lease.content) else {
                    throw APIError(.forbidden, "node \(node.id) has no transcoding task for \(lease.content), or may not transcode now")
                }
                let key = try vault.unseal(record.sealedKey, content: lease.content)
                let expires = Int64(Date().timeIntervalSince1970) + leaseLifetime
                do {
                    return try Self.encode(try KeyLease.seal(key, content: lease.content, expiresAt: expires, to: recipient))
                } catch let error as ProtocolError {
                    throw APIError(.badRequest, "\(error)")
                }
            }
        }
        router.get("v1/hls-key/:content") { request, context in
            try await answer {
                let content = context.parameters.get("content") ?? ""
                guard Identifier.isValid(content) else { throw APIError(.badRequest, "'\(content.prefix(64))' is not a content id") }
                _ = try await viewerToken(try Self.playbackToken(request), content: content)
                guard let record = try await store.content(id: content) else { throw APIError(.notFound, "no content \(content)") }
                let key = try vault.unseal(record.sealedKey, content: content)
                return Response(
                    status: .ok, headers: [.contentType: "application/octet-stream", .cacheControl: "private, no-store"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: key)))
            }
        }
        return router
    }

    // MARK: -

    /// The route table's nearest edges, those that viewers reported failing lately after the
    /// others (looked up with a few more, so a healthy edge can take a suspect's place).
    private func routeDemotingSuspects(content: String, from viewer: GeoPoint, limit: Int, now: Int64) -> [RoutedEdge] {
        guard viewers.anyRecentReports(now: now) else { return registry.route(content: content, from: viewer, limit: limit) }
        let wider = registry.route(content: content, from: viewer, limit: min(limit + 3, 50))
        let order = viewers.demotingSuspects(wider.map(\.id), now: now)
        let byID = Dictionary(wider.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return order.prefix(limit).compactMap { byID[$0] }
    }

    /// Every task of `node`, with its title's hosts as sources and a token that opens the
    /// title there.
    private func taskAnswer(_ tasks: [TaskRecord], for node: NodeRecord) async throws -> TaskPollAnswer {
        let place = GeoPoint(latitude: node.latitude, longitude: node.longitude)
        var tokens: [String: String] = [:]
        var out: [AssignedTask] = []
        for task in tasks {
            var assigned = AssignedTask(content: task.content, kind: task.kind.rawValue, done: task.doneAt != nil)
            switch task.kind {
            case .hosting where task.doneAt != nil:
                break
            case .hosting, .delivery:
                var sources = try await board.sources(of: task.content, near: place).filter { $0.id != node.id }
                if task.kind == .delivery, registry.eligible(node.id, for: .transcoding) == nil {
                    // Renditions this edge does not make come from edges that do.
                    let known = Set(sources.map(\.id))
                    sources += try await board.transcoders(of: task.content, near: place).filter { $0.id != node.id && !known.contains($0.id) }
                }
                assigned.sources = sources.map(\.url)
                if tokens[task.content] == nil {
                    tokens[task.content] = try await vault.tokens.issue(content: task.content, session: TokenScope.fill(node: node.id).subject, lifetime: tokenLifetime)
                }
                assigned.token = tokens[task.content]
            case .transcoding:
                assigned.renditions = try await board.renditions(of: task.content)
            }
            out.append(assigned)
        }
        let challenges = try await store.openChallenges(node: node.id).map {
            Challenge(id: $0.id, content: $0.content, segment: $0.segment, chunk: $0.chunk, deadline: $0.deadline)
        }
        let probes = try await prober.deliver(to: node.id)
        return TaskPollAnswer(cursor: tasks.compactMap(\.sequence).max() ?? 0, tasks: out, challenges: challenges, probes: probes.isEmpty ? nil : probes)
    }

    func authorizeAdmin(_ request: Request) throws {
        guard let expected = adminTokenDigest else { throw APIError(.forbidden, "the admin API is off (start the coordinator with an admin token)") }
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer ") else { throw APIError(.unauthorized, "the admin API needs Authorization: Bearer TOKEN") }
        let given = Array(Self.digest(String(header.dropFirst(7))))
        // Constant-time comparison of equal-length digests.
        guard zip(given, expected).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw APIError(.unauthorized, "wrong admin token")
        }
    }

    private static func digest(_ text: String) -> [UInt8] {
        // FNV is not a cryptographic hash; compare whole tokens through SHA-256 instead.
        Array(SHA256Digest.of(Array(text.utf8)))
    }

    static func body(_ request: Request, limit: Int = StrictJSON.maxBytes) async throws -> Data {
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "the body is over \(limit) bytes")
        }
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
