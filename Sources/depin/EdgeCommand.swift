import ArgumentParser
import Edge
import Foundation
import Logging
import Metrics
import Prometheus
import ServerGuards

/// `depin edge`: runs an edge node until SIGTERM/SIGINT.
struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Run an edge node: an HTTP/2 cache serving HLS from its upstreams.",
        discussion: """
            Settings come from flags, then DEPIN_EDGE_* environment variables, then the TOML file
            (see the documented sample edge.conf). On start the edge prints one line per listener:
            "listening on https://HOST:PORT" (or http://).
            """
    )

    @Option(name: .long, help: "TOML configuration file (edge.conf).") var config: String?
    @Option(name: .long, help: "HTTPS listener HOST:PORT (h2 and http/1.1), or off.") var listen: String?
    @Option(name: .customLong("http-listen"), help: "Plaintext HTTP/1.1 listener HOST:PORT, or off.") var httpListen: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key.") var tlsKey: String?
    @Option(name: .customLong("cache-dir"), help: "Cache folder.") var cacheDir: String?
    @Option(name: .customLong("cache-size"), help: "Disk budget, such as 20GiB.") var cacheSize: String?
    @Option(name: .customLong("cache-memory"), help: "Memory for small hot objects, such as 256MiB.") var cacheMemory: String?
    @Option(name: .long, help: "Content root, tried in order (repeatable): https://, http://, file://.") var upstream: [String] = []
    @Option(name: .customLong("upstream-ca-file"), help: "Extra PEM trust roots for HTTPS upstreams.") var upstreamCAFile: String?
    @Option(name: .customLong("upstream-connect-timeout"), help: "Seconds.") var upstreamConnectTimeout: String?
    @Option(name: .customLong("upstream-read-timeout"), help: "Seconds.") var upstreamReadTimeout: String?
    @Option(name: .customLong("claim-interval"), help: "Seconds between delivery claims to the coordinator.") var claimInterval: String?
    @Option(name: .long, help: "Coordinator URL.") var coordinator: String?
    @Option(name: .long, help: "Identity key file.") var identity: String?
    @Option(name: .customLong("class"), help: "Device class: mobile, pc or server.") var deviceClass: String?
    @Option(name: .long, help: "Latitude in degrees.") var lat: String?
    @Option(name: .long, help: "Longitude in degrees.") var lon: String?
    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle connection is kept.") var idleTimeout: String?
    @Option(name: .customLong("max-header-bytes"), help: "Largest request head accepted.") var maxHeaderBytes: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String?
    @Option(name: .long, help: "Region name instead of --lat/--lon.") var region: String?
    @Option(name: .customLong("public-url"), help: "The https:// URL viewers reach this edge at.") var publicURL: String?
    @Option(name: .long, help: "Mbit/s of bandwidth offered.") var mbps: String?
    @Option(name: .long, help: "Cores offered (default: this machine's).") var cores: String?
    @Option(name: .long, help: "GB of RAM offered (default: this machine's).") var ram: String?
    @Option(name: .long, help: "Has a GPU: true or false.") var gpu: String?
    @Option(name: .long, help: "Has an SSD: true or false.") var ssd: String?
    @Option(name: .long, help: "Make ladder renditions on demand: true or false (pc class only).") var transcode: String?
    @Option(name: .customLong("transcode-keys"), help: "Folder of CONTENT.key files for transcoding.") var transcodeKeys: String?
    @Option(name: .customLong("transcode-worker"), help: "The depin executable run as the transcode worker.") var transcodeWorker: String?
    @Option(name: .customLong("transcode-timeout"), help: "Seconds a transcode may take.") var transcodeTimeout: String?
    @Option(name: .customLong("transcode-memory"), help: "Memory limit of a transcode worker, such as 2GiB.") var transcodeMemory: String?
    @Option(name: .customLong("transcode-jobs"), help: "Transcode workers at once.") var transcodeJobs: String?
    @Flag(name: .long, help: "Check the configuration, print it, and exit.") var check = false

    func run() async throws {
        DescriptorLimit.raiseToHardLimit()
        ProcessMemory.returnLargeBlocks()
        var flags: [String: [String]] = [:]
        let single: [(String, String?)] = [
            ("listen", listen), ("http_listen", httpListen), ("tls.cert", tlsCert), ("tls.key", tlsKey),
            ("cache.dir", cacheDir), ("cache.size", cacheSize), ("cache.memory", cacheMemory),
            ("upstream.ca_file", upstreamCAFile), ("upstream.connect_timeout", upstreamConnectTimeout),
            ("upstream.read_timeout", upstreamReadTimeout), ("coordinator.url", coordinator),
            ("coordinator.identity", identity), ("coordinator.claim_interval", claimInterval), ("node.class", deviceClass), ("node.lat", lat), ("node.lon", lon),
            ("server.idle_timeout", idleTimeout), ("server.max_header_bytes", maxHeaderBytes), ("log.level", logLevel),
            ("node.region", region), ("node.url", publicURL), ("node.mbps", mbps), ("node.cores", cores), ("node.ram", ram), ("node.gpu", gpu), ("node.ssd", ssd),
            ("transcode.enabled", transcode), ("transcode.keys", transcodeKeys), ("transcode.worker", transcodeWorker),
            ("transcode.timeout", transcodeTimeout), ("transcode.memory_limit", transcodeMemory), ("transcode.jobs", transcodeJobs),
        ]
        for (key, value) in single { if let value { flags[key] = [value] } }
        if !upstream.isEmpty { flags["upstream.urls"] = upstream }

        let settings: EdgeConfiguration
        do {
            settings = try EdgeConfiguration.load(file: config, environment: ProcessInfo.processInfo.environment, flags: flags)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        if check {
            print("configuration ok: \(settings.summary)")
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: settings.logLevel) ?? .info
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "depin.edge")
        logger.info("edge starting: \(settings.summary)")
        let server = EdgeServer(configuration: settings, logger: logger, registry: registry)
        try await server.run { scheme, host, port in
            print("listening on \(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)")
            fflush(nil)
        }
        logger.info("edge stopped")
    }
}
