import ArgumentParser
import Coordinator
import DePINProtocol
import Foundation
import Logging
import ServerGuards

/// `depin coordinator`: the registry, staking ledger and router, over HTTP.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: miner registry, staking ledger, task assignment, nearest-edge routing and HLS keys under /v1.",
        discussion: """
            Prints "listening on http://HOST:PORT" (and https://) once per listener. The admin API
            (POST /v1/admin/ledger) is on only with an admin token, given by --admin-token-file or
            DEPIN_COORDINATOR_ADMIN_TOKEN.
            """
    )

    @Option(name: .customLong("http-listen"), help: "Plaintext HTTP/1.1 listener HOST:PORT, or off.") var httpListen = "127.0.0.1:8080"
    @Option(name: .long, help: "HTTPS listener HOST:PORT (HTTP/2 and HTTP/1.1), with --tls-cert and --tls-key.") var listen: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key.") var tlsKey: String?
    @Option(name: .long, help: "sqlite:PATH (one coordinator a file) or postgres://user[:password]@host[:port]/database (coordinators may share it).")
    var db = "sqlite:./depin-coordinator.sqlite"
    @Option(name: .customLong("admin-token-file"), help: "File holding the admin API's bearer token.") var adminTokenFile: String?
    @Option(name: .customLong("heartbeat-timeout"), help: "Seconds without a heartbeat before an edge stops being routed to.") var heartbeatTimeout: Int64 = 30
    @Option(name: .customLong("max-load"), help: "Load (0 to 1) at which an edge gets no new viewers.") var maxLoad = 0.9
    @Option(name: .customLong("viewers-per-core"), help: "Viewers an edge serves at once per core (claimed, or as capacity probes measured when they measured less), before route answers prefer edges with room.")
    var viewersPerCore = 250
    @Option(name: .customLong("band-km"), help: "Width of a routing distance band, km.") var bandKilometres = 50.0
    @Option(name: .long, help: "The coordinator's Ed25519 key file (made, mode 0600, when absent).") var identity = "./depin-coordinator.key"
    @Option(name: .customLong("token-lifetime"), help: "Seconds a playback token is valid.") var tokenLifetime = 21_600.0
    @Option(name: .customLong("lease-lifetime"), help: "Seconds a transcoding edge's key lease is valid.") var leaseLifetime: Int64 = 3600
    @Option(name: .long, help: "Edges that host each title, however little it is watched.") var replicas = 2
    @Option(name: .customLong("max-replicas"), help: "Edges that host the most watched titles.") var maxReplicas = 6
    @Option(name: .customLong("lookups-per-replica"), help: "Route look-ups (decaying, 10-minute half-life) that earn a title one more host; each doubling adds one.")
    var lookupsPerReplica = 1000
    @Option(name: .customLong("claim-factor"), help: "How many times a title's size one playback session may be delivered, all edges together.")
    var claimFactor = 3.0
    @Option(name: .customLong("max-edges-per-session"), help: "Edges that may deliver one playback session.") var maxEdgesPerSession = 5
    @Option(name: .customLong("challenge-interval"), help: "Seconds between proof-of-retrievability rounds (0: none).") var challengeInterval = 60
    @Option(name: .customLong("challenge-deadline"), help: "Seconds a host has to answer a challenge.") var challengeDeadline: Int64 = 10
    @Option(name: .customLong("min-challenges"), help: "Challenge outcomes a host must have before it may be suspended or slashed.") var minChallenges = 8
    @Option(name: .customLong("probe-interval"), help: "Seconds between capacity probes of one node (0: none); the first comes when it registers.")
    var probeInterval: Int64 = 3600
    @Option(name: .customLong("probe-seconds"), help: "Seconds a capacity probe takes a node that has the cores it claims.") var probeSeconds = 2.0
    @Option(name: .customLong("core-hash-rate"), help: "SHA-256 hashes per second of one reference core on probe work: the unit of measured cores.")
    var coreHashRate = 2_000_000.0
    @Option(name: .customLong("probe-concurrency"), help: "Capacity probes out at once across the network.") var probeConcurrency = 64
    @Option(name: .customLong("epoch-seconds"), help: "Seconds an epoch lasts (rewards are settled when one ends).") var epochSeconds: Int64 = 86_400
    @Option(name: .customLong("app-share"), help: "Share of in-app revenue (subscriptions, ads, purchases) that feeds the reward pool.") var appShare = 0.3
    @Option(name: .customLong("fee-share"), help: "Share of token transaction fees that feeds the reward pool.") var feeShare = 0.5
    @Option(name: .customLong("transcode-sample"), help: "Share of challenge rounds that also audit a transcode against two other edges (0 to 1).") var transcodeSample = 0.1
    @Option(name: .customLong("edge-ca-file"), help: "PEM certificate to trust when fetching from edges (transcode audits), besides the system's.") var edgeCAFile: String?
    @Option(name: .customLong("geo-prefixes"), help: "File of 'PREFIX LAT LON' or 'PREFIX REGION' lines that place viewers by address when they give no place.")
    var geoPrefixes: String?
    @Option(name: .customLong("reload-interval"), help: "Seconds between reloads from the database (coordinators sharing one converge).") var reloadInterval = 5.0
    @Option(name: .customLong("cors-origins"), help: "Comma-separated origins whose pages may call the viewer endpoints (route, HLS keys, viewer events, steering), or * for any.")
    var corsOrigins = "*"
    @Option(name: .customLong("suspect-sessions"), help: "Viewer sessions that must report an edge failing within --suspect-window for route answers to put it after the others.")
    var suspectSessions = 3
    @Option(name: .customLong("suspect-window"), help: "Seconds a viewer's report that an edge failed counts against it.") var suspectWindow: Int64 = 60
    @Option(name: .customLong("rate-limit"), help: "Requests a second each client address may make to the public endpoints (route, HLS keys, registration, viewer events, steering, watch page); 0: no limit.")
    var rateLimit = 20.0
    @Option(name: .customLong("rate-burst"), help: "Requests a client address may make at once before --rate-limit applies.") var rateBurst = 100.0
    @Option(name: .customLong("idle-timeout"), help: "Seconds a connection may go without a whole request before it is closed (idle keep-alives, slow request heads).")
    var idleTimeout = 75.0
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func run() async throws {
        DescriptorLimit.raiseToHardLimit()
        ProcessMemory.returnLargeBlocks()
        var configuration = CoordinatorServer.Configuration()
        configuration.database = db
        configuration.httpListen = try address(httpListen, flag: "--http-listen")
        configuration.httpsListen = try listen.flatMap { try address($0, flag: "--listen") }
        configuration.tlsCertificate = tlsCert
        configuration.tlsKey = tlsKey
        if configuration.httpsListen != nil && (tlsCert == nil || tlsKey == nil) { throw ValidationError("--listen needs --tls-cert and --tls-key") }
        if configuration.httpListen == nil && configuration.httpsListen == nil { throw ValidationError("give --http-listen or --listen") }
        if let file = adminTokenFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read --admin-token-file \(file)") }
            configuration.adminToken = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            configuration.adminToken = ProcessInfo.processInfo.environment["DEPIN_COORDINATOR_ADMIN_TOKEN"]
        }
        if let token = configuration.adminToken, token.count < 16 { throw ValidationError("the admin token must be at least 16 characters") }
        guard heartbeatTimeout > 0, (0.0...1.0).contains(maxLoad), bandKilometres > 0, (1...1_000_000).contains(viewersPerCore) else {
            throw ValidationError("--heartbeat-timeout and --band-km must be positive, --max-load 0 to 1, --viewers-per-core 1 to 1000000")
        }
        configuration.policy = .init(heartbeatTimeout: heartbeatTimeout, maximumLoad: maxLoad, viewersPerCore: viewersPerCore)
        configuration.bandKilometres = bandKilometres
        guard reloadInterval >= 1 else { throw ValidationError("--reload-interval must be at least 1 second") }
        configuration.reloadInterval = reloadInterval
        guard tokenLifetime >= 1 else { throw ValidationError("--token-lifetime must be at least 1 second") }
        configuration.tokenLifetime = tokenLifetime
        guard leaseLifetime >= 10 else { throw ValidationError("--lease-lifetime must be at least 10 seconds") }
        configuration.leaseLifetime = leaseLifetime
        guard (1...50).contains(replicas), maxReplicas >= replicas, maxReplicas <= 50, lookupsPerReplica >= 1 else {
            throw ValidationError("--replicas must be 1 to 50, --max-replicas at least --replicas and at most 50, --lookups-per-replica positive")
        }
        configuration.hosting = HostingPolicy(replicas: replicas, maxReplicas: maxReplicas, lookupsPerReplica: lookupsPerReplica)
        if let geoPrefixes {
            guard let text = try? String(contentsOfFile: geoPrefixes, encoding: .utf8) else { throw ValidationError("cannot read --geo-prefixes \(geoPrefixes)") }
            do {
                configuration.prefixes = try GeoPrefixTable(text: text)
            } catch {
                throw ValidationError("--geo-prefixes \(geoPrefixes): \(error)")
            }
        }
        guard claimFactor >= 1, claimFactor <= 100, (1...50).contains(maxEdgesPerSession) else {
            throw ValidationError("--claim-factor must be 1 to 100 and --max-edges-per-session 1 to 50")
        }
        guard challengeInterval >= 0, (1...3600).contains(challengeDeadline) else {
            throw ValidationError("--challenge-interval must be 0 or more and --challenge-deadline 1 to 3600 seconds")
        }
        configuration.challengeInterval = challengeInterval
        guard (0...1).contains(transcodeSample) else { throw ValidationError("--transcode-sample must be 0 to 1") }
        configuration.transcodeSample = transcodeSample
        configuration.edgeCAFile = edgeCAFile
        configuration.challengeDeadline = challengeDeadline
        guard (1...1000).contains(minChallenges) else { throw ValidationError("--min-challenges must be 1 to 1000") }
        configuration.reputation.minimumChallenges = minChallenges
        guard probeInterval >= 0, (0.1...60).contains(probeSeconds), coreHashRate >= 1000, (1...10_000).contains(probeConcurrency) else {
            throw ValidationError("--probe-interval must be 0 or more, --probe-seconds 0.1 to 60, --core-hash-rate at least 1000, --probe-concurrency 1 to 10000")
        }
        configuration.capacity.interval = probeInterval
        configuration.capacity.probeSeconds = probeSeconds
        configuration.capacity.referenceRate = coreHashRate
        configuration.capacity.concurrency = probeConcurrency
        guard epochSeconds >= 1, (0...1).contains(appShare), (0...1).contains(feeShare) else {
            throw ValidationError("--epoch-seconds must be at least 1, --app-share and --fee-share 0 to 1")
        }
        configuration.rewards.epochSeconds = epochSeconds
        configuration.rewards.appShare = appShare
        configuration.rewards.feeShare = feeShare
        configuration.claims.bytesFactor = claimFactor
        configuration.claims.maxEdgesPerSession = maxEdgesPerSession
        configuration.identityFile = identity
        configuration.corsOrigins = try Self.origins(corsOrigins)
        guard suspectSessions > 0, suspectWindow > 0 else { throw ValidationError("--suspect-sessions and --suspect-window must be positive") }
        configuration.viewers.suspectSessions = suspectSessions
        configuration.viewers.window = suspectWindow
        guard rateLimit >= 0, rateLimit.isFinite, rateBurst >= 1, rateBurst.isFinite else {
            throw ValidationError("--rate-limit must be 0 (off) or positive, --rate-burst at least 1")
        }
        configuration.rateLimit = .init(rate: rateLimit, burst: rateBurst)
        guard idleTimeout >= 1, idleTimeout <= 3600 else { throw ValidationError("--idle-timeout must be 1 to 3600 seconds") }
        configuration.idleTimeout = idleTimeout
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "depin.coordinator")
        do {
            try await CoordinatorServer(configuration: configuration, logger: logger).run { scheme, host, port in
                print("listening on \(scheme)://\(host):\(port)")
                fflush(nil)
            }
        } catch let error as StoreFailure {
            FileHandle.standardError.write(Data("coordinator: \(error)\n".utf8))
            throw ExitCode(1)
        } catch let error as ProtocolError {
            FileHandle.standardError.write(Data("coordinator: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// `*`, or a list of `scheme://host[:port]` origins.
    static func origins(_ text: String) throws -> [String] {
        let list = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if list == ["*"] { return list }
        for origin in list {
            guard let url = URL(string: origin), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil,
                url.path.isEmpty, url.query == nil, !origin.hasSuffix("/")
            else {
                throw ValidationError("--cors-origins takes * or origins such as https://app.example.com (scheme, host and port only), not '\(origin)'")
            }
        }
        guard !list.isEmpty else { throw ValidationError("--cors-origins needs * or at least one origin") }
        return list
    }

    private func address(_ text: String, flag: String) throws -> (host: String, port: Int)? {
        if text == "off" { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("\(flag) must be HOST:PORT or off, not '\(text)'")
        }
        return (String(text[..<colon]), port)
    }
}
