import AsyncHTTPClient
import DePINProtocol
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL
import ServerGuards
import ServiceLifecycle
import UnixSignals

/// Everything `depin coordinator` runs: the store, the registry, the HTTP API (plaintext
/// HTTP/1.1 and/or HTTPS with HTTP/2), and the loop that re-evaluates routability every second
/// and reloads from the store every few seconds (so coordinators sharing a PostgreSQL database
/// converge). Stops on SIGTERM/SIGINT after in-flight requests.
package struct CoordinatorServer {
    package struct Configuration: Sendable {
        /// `sqlite:PATH` or `postgres://user[:password]@host[:port]/database`.
        package var database = "sqlite:./depin-coordinator.sqlite"
        package var httpListen: (host: String, port: Int)? = ("127.0.0.1", 8080)
        package var httpsListen: (host: String, port: Int)?
        package var tlsCertificate: String?
        package var tlsKey: String?
        package var adminToken: String?
        /// The coordinator's Ed25519 identity (made when absent).
        package var identityFile = "./depin-coordinator.key"
        /// Seconds a playback token is valid.
        package var tokenLifetime = 6 * 3600.0
        /// Seconds a transcoding edge's key lease is valid.
        package var leaseLifetime: Int64 = 3600
        /// Hosts per title, and how demand adds more.
        package var hosting = HostingPolicy()
        /// Places viewers that give neither coordinates nor a region, by address.
        package var prefixes = GeoPrefixTable()
        /// How delivery claims are checked (the session lifetime follows ``tokenLifetime``).
        package var claims = ClaimBook.Policy()
        /// Seconds between proof-of-retrievability rounds (0: none), and to answer one.
        package var challengeInterval = 60
        package var challengeDeadline: Int64 = 10
        package var reputation = ReputationPolicy()
        package var rewards = RewardPolicy()
        /// How nodes' cores are measured.
        package var capacity = CapacityPolicy()
        /// The share of challenge rounds that also audit a transcode (0 to 1).
        package var transcodeSample = 0.1
        /// A PEM certificate to trust, besides the system's, when fetching from edges (audits).
        package var edgeCAFile: String?
        package var policy = RoutingPolicy()
        package var bandKilometres = 50.0
        /// Seconds between reloads from the store (PostgreSQL only: coordinators sharing it
        /// converge; a SQLite file has one coordinator).
        package var reloadInterval = 5.0
        /// Origins whose pages may call the viewer endpoints (route, keys, events, steering,
        /// the watch page): `["*"]` for any, or exact origins such as `https://app.dehub.io`.
        package var corsOrigins = ["*"]
        /// How viewers' failure reports count against edges.
        package var viewers = ViewerSessions.Policy()
        /// Per-address limits on the public endpoints (route, keys, registration, viewers').
        package var rateLimit = ClientRateLimiter.Policy()
        /// Seconds a connection may go without a whole request (head included) before it is
        /// closed: idle keep-alive connections and slowloris heads alike. (Task long polls send
        /// their request at once and are answered within a minute.)
        package var idleTimeout = 75.0

        package init() {}
    }

    package let configuration: Configuration
    package let logger: Logger

    package init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens the store named by `database`.
    package static func openStore(_ database: String, logger: Logger) throws -> any CoordinatorStore {
        if database.hasPrefix("sqlite:") {
            let path = String(database.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw StoreFailure.unavailable("sqlite: needs a path, such as sqlite:/var/lib/depin/coordinator.sqlite") }
            return try SQLiteStore(path: path)
        }
        if database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") {
            return try PostgresStore(url: database, logger: logger)
        }
        throw StoreFailure.unavailable("--db must be sqlite:PATH or postgres://..., not '\(database)'")
    }

    /// Runs until SIGTERM/SIGINT. `onListening` is called with (scheme, host, port) per listener.
    package func run(onListening: @escaping @Sendable (String, String, Int) -> Void) async throws {
        let store = try Self.openStore(configuration.database, logger: logger)
        try await store.migrate()
        let registry = Registry(store: store, policy: configuration.policy, bandKilometres: configuration.bandKilometres)
        try await registry.reload()
        let (vault, created) = try await KeyVault.load(path: configuration.identityFile)
        logger.info("coordinator key \(vault.identity.id) \(created ? "made and written to" : "read from") \(configuration.identityFile)")
        // One catalog for every component: each title's manifest is read and decoded once.
        let catalog = Catalog(store: store)
        let board = TaskBoard(store: store, registry: registry, policy: configuration.hosting, catalog: catalog)
        let challenger = Challenger(
            store: store, registry: registry, board: board, policy: configuration.reputation, deadline: configuration.challengeDeadline)
        let prober = CapacityProber(store: store, registry: registry, board: board, policy: configuration.capacity)
        var clientConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(60)))
        if let ca = configuration.edgeCAFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(ca))]
            clientConfiguration.tlsConfiguration = tls
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let auditor = TranscodeAuditor(
            store: store, registry: registry, vault: vault, client: client, sample: configuration.transcodeSample,
            epochSeconds: configuration.rewards.epochSeconds, catalog: catalog, logger: logger)
        let epochBook = EpochBook(
            store: store, vault: vault, reputation: configuration.reputation, capacity: configuration.capacity, policy: configuration.rewards,
            catalog: catalog)
        var claimPolicy = configuration.claims
        claimPolicy.sessionLifetime = Int64(configuration.tokenLifetime)
        let api = CoordinatorAPI(
            registry: registry, store: store, board: board, claims: ClaimBook(store: store, vault: vault, registry: registry, policy: claimPolicy, catalog: catalog),
            challenger: challenger, prober: prober, auditor: auditor, epochs: epochBook, vault: vault, tokenLifetime: configuration.tokenLifetime,
            leaseLifetime: configuration.leaseLifetime, adminToken: configuration.adminToken, prefixes: configuration.prefixes,
            viewers: ViewerSessions(policy: configuration.viewers), corsOrigins: configuration.corsOrigins, rateLimit: configuration.rateLimit)
        // A SQLite file has one coordinator, which already knows every change: no reloads.
        let shared = !configuration.database.hasPrefix("sqlite:")
        var services = CoordinatorDuties.services(
            registry: registry, board: board, challenger: challenger, prober: prober, auditor: auditor, epochs: epochBook,
            challengeInterval: configuration.challengeInterval, reloadInterval: shared ? configuration.reloadInterval : nil, logger: logger)
        let idle = TimeAmount.milliseconds(Int64(configuration.idleTimeout * 1000))
        // One budget for both listeners: past it new connections are closed at once, and the
        // descriptors left keep the database, the key store and outgoing probes working.
        let budget = ConnectionBudget(descriptors: DescriptorLimit.current)
        // HTTP/1.1 requests need exactly one Host (RFC 9112 §3.2); HTTP/2 streams pass through.
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [HostRuleHandler()], idleTimeout: idle)
        if let listen = configuration.httpListen {
            services.append(
                Application(
                    router: api.router(),
                    server: HTTPServerBuilder { GuardedChildChannel(HTTP1Channel(responder: $0, configuration: http1), budget: budget) },
                    configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "depin-coordinator"),
                    onServerRunning: { onListening("http", listen.host, $0.localAddress?.port ?? listen.port) }, logger: logger))
        }
        if let listen = configuration.httpsListen {
            guard let certificate = configuration.tlsCertificate, let key = configuration.tlsKey else {
                throw StoreFailure.unavailable("HTTPS needs --tls-cert and --tls-key")
            }
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            tls.shutdownTimeout = .seconds(1)  // as the edge's: no socket held in CLOSE-WAIT for NIOSSL's 5 s
            let tlsConfiguration = tls
            services.append(
                Application(
                    router: api.router(),
                    server: HTTPServerBuilder { responder in
                        // TLS handshakes, like request heads, must finish within the idle timeout.
                        GuardedChildChannel(
                            try HTTP2UpgradeChannel(
                                tlsConfiguration: tlsConfiguration,
                                configuration: .init(idleTimeout: .seconds(configuration.idleTimeout), streamConfiguration: http1),
                                responder: responder),
                            budget: budget, handshakeDeadline: idle)
                    },
                    configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "depin-coordinator"),
                    onServerRunning: { onListening("https", listen.host, $0.localAddress?.port ?? listen.port) }, logger: logger))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        try await store.close()
    }
}
