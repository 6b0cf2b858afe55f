import AsyncHTTPClient
import Crypto
import EdgeCache
import Foundation
import HLS
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import ServerGuards
import Prometheus
import DePINProtocol
import ServiceLifecycle
import Synchronization
import UnixSignals

/// An edge node: the cache, its upstreams, and the HTTPS (h2 + http/1.1) and plaintext listeners,
/// run together as services; SIGTERM/SIGINT drain in-flight responses, then stop.
package struct EdgeServer: Sendable {
    package let configuration: EdgeConfiguration
    package let logger: Logger
    let registry: PrometheusCollectorRegistry

    /// Where each listener is bound, reported once it is (port 0 becomes the real port).
    package typealias OnListening = @Sendable (_ scheme: String, _ host: String, _ port: Int) async -> Void

    package init(configuration: EdgeConfiguration, logger: Logger, registry: PrometheusCollectorRegistry) {
        self.configuration = configuration
        self.logger = logger
        self.registry = registry
    }

    /// Runs until a termination signal or until the task is cancelled.
    package func run(signals: [UnixSignal] = [.sigterm, .sigint], onListening: @escaping OnListening = { _, _, _ in }) async throws {
        let config = configuration
        var clientConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(
                connect: .milliseconds(Int64(config.upstreamConnectTimeout * 1000)),
                read: .milliseconds(Int64(config.upstreamReadTimeout * 1000))))
        if let ca = config.upstreamCAFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(ca))]
            } catch {
                throw ConfigurationError.invalid("upstream.ca_file", ca, expected: "a readable PEM certificate file (\(error))")
            }
            clientConfiguration.tlsConfiguration = tls
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        // The coordinator holds a task poll open for up to a minute without a byte: its link
        // waits that long, whatever the upstream read timeout is.
        clientConfiguration.timeout.read = .seconds(Int64(CoordinatorAgent.longestPoll + 15))
        let coordinatorClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            try await runServices(client: client, coordinatorClient: coordinatorClient, signals: signals, onListening: onListening)
        } catch {
            try? await client.shutdown()
            try? await coordinatorClient.shutdown()
            throw error
        }
        try await client.shutdown()
        try await coordinatorClient.shutdown()
    }

    /// What this machine offers, measured (reported at registration unless configured).
    struct MachineFacts: Sendable {
        var cores: Int
        var ramGB: Double
        var diskGB: Double

        static func measure(cacheDirectory: String) -> MachineFacts {
            var disk = 0.0
            var stats = statvfs()
            if statvfs(cacheDirectory, &stats) == 0 { disk = Double(stats.f_blocks) * Double(stats.f_frsize) / 1e9 }
            return MachineFacts(
                cores: ProcessInfo.processInfo.activeProcessorCount, ramGB: Double(ProcessInfo.processInfo.physicalMemory) / 1e9, diskGB: disk)
        }
    }

    /// This process's executable, the default transcode worker.
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 { return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }

    private func runServices(client: HTTPClient, coordinatorClient: HTTPClient, signals: [UnixSignal], onListening: @escaping OnListening) async throws {
        let config = configuration
        // With a coordinator: the node's identity, the titles it hosts, and the hosts it fills from.
        var coordinated: (link: CoordinatorLink, hosted: HostedStore, assignments: Assignments, journal: ClaimJournal)?
        if let coordinator = config.coordinator, let identityPath = config.identity {
            let identity: NodeIdentity
            do {
                identity = try NodeIdentity.read(from: identityPath)
            } catch {
                throw ConfigurationError.invalid("coordinator.identity", identityPath, expected: "a readable identity file (\(error))")
            }
            let hosted: HostedStore
            do {
                hosted = try HostedStore(root: config.cacheDirectory + "/hosted")
            } catch {
                throw ConfigurationError.invalid("cache.dir", config.cacheDirectory, expected: "a folder this edge can write (\(error))")
            }
            let journal: ClaimJournal
            do {
                journal = try ClaimJournal(directory: config.cacheDirectory + "/claims")
            } catch {
                throw ConfigurationError.invalid("cache.dir", config.cacheDirectory, expected: "a folder for delivery claims (\(error))")
            }
            coordinated = (CoordinatorLink(base: coordinator, identity: identity, client: coordinatorClient), hosted, Assignments(), journal)
        }
        var origins: [any Origin] = []
        if let coordinated {
            origins.append(FileOrigin(root: coordinated.hosted.root))
            origins.append(HostOrigin(assignments: coordinated.assignments, client: client))
        }
        for url in config.upstreams {
            if url.lowercased().hasPrefix("file://") {
                origins.append(FileOrigin(root: URL(string: url)!.path))
            } else {
                origins.append(HTTPOrigin(base: url, client: client))
            }
        }
        if origins.isEmpty { logger.warning("no upstreams configured: every miss will be a 404") }

        var cacheConfiguration = MediaCache.Configuration(directory: config.cacheDirectory, capacity: config.cacheSize)
        cacheConfiguration.memoryCapacity = config.cacheMemory
        cacheConfiguration.isKept = { key, body in
            key.fileExtension != "m3u8" || !PlaylistInfo(parsing: body.readableBytesView).isLive
        }
        let status = EdgeStatus(coordinator: coordinated?.link.base, node: coordinated?.link.identity.id)
        var transcoder: TranscodeOrigin?
        let tally = TranscodeTally()
        let keys: (any ContentKeyProvider)? = config.transcode.keyDirectory.map { KeyDirectory(path: $0) } ?? coordinated.map { LeasedKeys(link: $0.link) }
        if config.transcode.enabled, let keys {
            let executable = config.transcode.worker ?? Self.ownExecutable()
            transcoder = TranscodeOrigin(
                worker: TranscodeWorker(
                    executable: executable, timeout: .milliseconds(Int64(config.transcode.timeout * 1000)),
                    memoryLimit: config.transcode.memoryLimit),
                keys: keys, jobs: config.transcode.jobs, logger: logger, onMade: { [coordinated] made in
                    status.noteMade(made)
                    if coordinated != nil { tally.add(made) }
                })
            let source = config.transcode.keyDirectory.map { "keys in \($0)" } ?? "keys leased from the coordinator"
            logger.info("transcoding on demand with \(executable) transcode-worker, \(source)")
        }
        let cache = try MediaCache(configuration: cacheConfiguration, origins: origins, producer: transcoder, logger: logger)
        transcoder?.attach { [cache] key in try await cache.object(key) }
        defer { transcoder?.shutdown() }
        var responder = EdgeResponder(cache: cache, registry: registry, logger: logger)
        var services: [any Service] = [cache]
        let ownURL = Mutex<String?>(config.publicURL)
        var onListening = onListening
        if let coordinated {
            let identity = coordinated.link.identity
            let transcoding = transcoder != nil
            let gate = TokenGate(coordinator: coordinated.link.base)
            responder.gate = gate
            responder.relay = ViewerRelay(coordinator: coordinated.link.base, client: client)
            let live: LiveHostedStore
            do {
                live = try LiveHostedStore(root: config.cacheDirectory + "/live")
            } catch {
                throw ConfigurationError.invalid("cache.dir", config.cacheDirectory, expected: "a folder this edge can write (\(error))")
            }
            responder.hosting = EdgeResponder.Hosting(node: identity.id, store: coordinated.hosted, assignments: coordinated.assignments, live: live)
            // A hinted part is filled into the cache ahead of the viewers who will ask for it.
            responder.liveRelay = LiveRelay(assignments: coordinated.assignments, client: client) { [cache] key in
                // Its viewers ask for it all at once when the playlist lists it: in memory from the start.
                _ = try? cache.lookup(key, keepInMemory: true)
            }
            let ledger = DeliveryLedger()
            responder.ledger = ledger
            let reported = onListening
            let preferHTTPS = config.listen != nil
            onListening = { scheme, host, port in
                if scheme == "https" || !preferHTTPS {
                    let shown = host == "0.0.0.0" || host == "::" ? ProcessInfo.processInfo.hostName : host
                    ownURL.withLock { if $0 == nil { $0 = "\(scheme)://\(shown):\(port)" } }
                }
                await reported(scheme, host, port)
            }
            let facts = MachineFacts.measure(cacheDirectory: config.cacheDirectory)
            let publicKey = identity.publicKey.rawRepresentation.base64EncodedString()
            services.append(
                contentsOf: CoordinatorAgent(
                    link: coordinated.link,
                    registration: { [config] in
                        guard let url = ownURL.withLock({ $0 }) else { return nil }
                        return RegistrationRequest(
                            publicKey: publicKey, deviceClass: config.deviceClass.name, cores: config.cores ?? facts.cores,
                            ramGB: config.ramGB ?? facts.ramGB, mbps: config.mbps, gpu: config.gpu, diskGB: facts.diskGB, ssd: config.ssd,
                            latitude: config.latitude, longitude: config.longitude, region: config.latitude == nil ? config.region : nil, url: url,
                            transcodes: transcoding)
                    },
                    gate: gate, cache: cache, peers: client, hosted: coordinated.hosted, assignments: coordinated.assignments, ledger: ledger, tally: tally,
                    journal: coordinated.journal,
                    keyFile: config.cacheDirectory + "/coordinator.pub", logger: logger, status: status,
                    claimInterval: .milliseconds(Int64(config.claimInterval * 1000))
                ).services())
            logger.info("node \(identity.id): registering with \(coordinated.link.base); media needs playback tokens")
        }

        let idleTimeout = TimeAmount.milliseconds(Int64(config.idleTimeout * 1000))
        var http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [WriteStallHandler(timeout: idleTimeout), HostRuleHandler()], idleTimeout: idleTimeout)
        http1.httpDecoder = .init(maxHeaderFieldSize: config.maxHeaderBytes, maxHeaderListSize: config.maxHeaderBytes, maxHeaderFieldCount: 100)
        let announced = onListening
        let announce: OnListening = { scheme, host, port in
            status.noteListener("\(scheme)://\(host):\(port)")
            await announced(scheme, host, port)
        }
        let responderReady = responder
        // One budget for both listeners: past it new connections are closed at once, so running
        // out of descriptors never stops the edge from accepting, reading its cache or filling.
        let budget = ConnectionBudget(descriptors: DescriptorLimit.current)

        if let listen = config.listen {
            let sslContext = try NIOSSLContext(configuration: try tlsConfiguration())
            let idle = TimeAmount.milliseconds(Int64(config.idleTimeout * 1000))
            let http1Configuration = http1
            let app = Application(
                responder: responderReady,
                server: HTTPServerBuilder { hummingbirdResponder in
                    GuardedChildChannel(
                        EdgeSecureChannel(
                            sslContext: sslContext, http1: HTTP1Channel(responder: hummingbirdResponder, configuration: http1Configuration),
                            responder: responderReady, idleTimeout: idle),
                        budget: budget, handshakeDeadline: idle)
                },
                configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "depin-edge"),
                onServerRunning: { channel in
                    await announce("https", listen.host, channel.localAddress?.port ?? listen.port)
                },
                logger: logger)
            services.append(app)
        }
        if let listen = config.httpListen {
            let http1Configuration = http1
            var plain = responderReady
            plain.statusPage = EdgeStatusPage(status: status, deviceClass: config.deviceClass.name)
            let app = Application(
                responder: plain,
                server: HTTPServerBuilder { GuardedChildChannel(HTTP1Channel(responder: $0, configuration: http1Configuration), budget: budget) },
                configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "depin-edge"),
                onServerRunning: { channel in
                    await announce("http", listen.host, channel.localAddress?.port ?? listen.port)
                },
                logger: logger)
            services.append(app)
        }
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: signals, logger: logger))
        try await group.run()
    }

    private func tlsConfiguration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificateSource]
        let key: NIOSSLPrivateKeySource
        if let certPath = configuration.tlsCertificate, let keyPath = configuration.tlsKey {
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certPath).map { .certificate($0) }
                key = .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
            } catch {
                throw ConfigurationError.invalid("tls.cert", certPath, expected: "a readable PEM certificate and key (\(error))")
            }
        } else {
            let host = ProcessInfo.processInfo.hostName
            let made = try SelfSignedCertificate.make(hostName: host)
            chain = [.certificate(try NIOSSLCertificate(bytes: Array(made.certificatePEM.utf8), format: .pem))]
            key = .privateKey(try NIOSSLPrivateKey(bytes: Array(made.keyPEM.utf8), format: .pem))
            logger.notice("no tls.cert/tls.key given: serving HTTPS with a self-signed certificate for localhost and \(host); clients must trust it explicitly (curl -k)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: key)
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["h2", "http/1.1"]
        // A closing connection waits at most this long for the peer's close_notify (NIOSSL's
        // default is 5 s): a client that half-closed and reads nothing held its socket in
        // CLOSE-WAIT for all of it.
        tls.shutdownTimeout = .seconds(1)
        return tls
    }
}
