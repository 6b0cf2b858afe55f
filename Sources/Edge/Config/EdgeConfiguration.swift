import Configuration
import DePINProtocol
import Foundation
import TOMLKit

/// Every setting of an edge node, with its documented default.
///
/// Read from three layers, highest first: command-line flags, environment variables
/// (`DEPIN_EDGE_` + the key in upper case with `_` for `.`, e.g. `DEPIN_EDGE_CACHE_DIR`), and the
/// TOML file (`edge.conf`, whose sample documents every key). ``keys`` is the one list of settings;
/// a key the file or environment names that is not on it is refused, so a typo never goes unseen.
package struct EdgeConfiguration: Sendable, Equatable {
    /// HTTPS listener (HTTP/2 and HTTP/1.1 by ALPN); nil disables it.
    package var listen: HostAndPort? = HostAndPort(host: "0.0.0.0", port: 8443)
    /// Plaintext HTTP/1.1 listener (loopback, or behind a TLS proxy), where the edge's
    /// `/status` page is; nil disables it.
    package var httpListen: HostAndPort? = HostAndPort(host: "127.0.0.1", port: 8081)
    /// PEM certificate chain and key; both nil: a self-signed certificate is made at start.
    package var tlsCertificate: String?
    package var tlsKey: String?
    /// Cache folder and its disk budget in bytes.
    package var cacheDirectory = "./depin-cache"
    package var cacheSize = 20 << 30
    /// Memory for whole small objects served without disk reads.
    package var cacheMemory = 256 << 20
    /// Content roots tried in order: `https://`, `http://`, `file://`.
    package var upstreams: [String] = []
    /// Extra PEM trust roots for HTTPS upstreams (edges with their own certificates).
    package var upstreamCAFile: String?
    /// Seconds to connect to an upstream, and the most a read may stall.
    package var upstreamConnectTimeout = 3.0
    package var upstreamReadTimeout = 10.0
    /// Coordinator and this node's identity key (used once the coordinator exists).
    package var coordinator: String?
    package var identity: String?
    /// Seconds between delivery claims to the coordinator.
    package var claimInterval = 10.0
    /// Device class (`mobile`, `pc`, `server`) and location.
    package var deviceClass = DeviceClass.named("server")!
    package var latitude: Double?
    package var longitude: Double?
    /// A region name from the coordinator's table, instead of latitude/longitude.
    package var region: String?
    /// Where viewers reach this edge; nil: the HTTPS listener's address.
    package var publicURL: String?
    /// Upstream bandwidth the node offers, Mbit/s; whether it has a GPU and an SSD.
    package var mbps = 100.0
    /// Cores and RAM (GB) reported; nil: what this machine has.
    package var cores: Int?
    package var ramGB: Double?
    package var gpu = false
    package var ssd = true
    /// Seconds a connection may sit idle before it is closed.
    package var idleTimeout = 30.0
    /// Largest request head accepted, in bytes.
    package var maxHeaderBytes = 16 * 1024
    /// `trace`, `debug`, `info`, `notice`, `warning`, `error`, `critical`.
    package var logLevel = "info"
    /// On-demand renditions (only the `pc` class transcodes).
    package var transcode = TranscodeConfiguration()

    package init() {}

    /// One line for logs and `depin edge --check`.
    package var summary: String {
        let listeners = [listen.map { "https://\($0)" }, httpListen.map { "http://\($0)" }].compactMap { $0 }.joined(separator: " ")
        return "listen \(listeners), cache \(cacheDirectory) (\(cacheSize) bytes disk, \(cacheMemory) memory), "
            + "upstreams [\(upstreams.joined(separator: ", "))], class \(deviceClass.name)"
    }

    /// The settings: TOML key (`section.name`), flag, and what the value must look like.
    package static let keys: [(key: String, flag: String, expects: String)] = [
        ("listen", "--listen", "HOST:PORT, or \"off\""),
        ("http_listen", "--http-listen", "HOST:PORT, or \"off\""),
        ("tls.cert", "--tls-cert", "a PEM file"),
        ("tls.key", "--tls-key", "a PEM file"),
        ("cache.dir", "--cache-dir", "a folder"),
        ("cache.size", "--cache-size", "bytes, or a size such as 20GiB or 500MB"),
        ("cache.memory", "--cache-memory", "bytes, or a size such as 256MiB"),
        ("upstream.urls", "--upstream", "a list of https://, http:// or file:// URLs"),
        ("upstream.ca_file", "--upstream-ca-file", "a PEM file"),
        ("upstream.connect_timeout", "--upstream-connect-timeout", "seconds"),
        ("upstream.read_timeout", "--upstream-read-timeout", "seconds"),
        ("coordinator.url", "--coordinator", "an https:// or http:// URL"),
        ("coordinator.identity", "--identity", "a key file"),
        ("coordinator.claim_interval", "--claim-interval", "seconds, 1 to 3600"),
        ("node.class", "--class", "mobile, pc or server"),
        ("node.lat", "--lat", "degrees of latitude, -90 to 90"),
        ("node.lon", "--lon", "degrees of longitude, -180 to 180"),
        ("node.region", "--region", "a region name (us-east, eu-west, ...), instead of lat/lon"),
        ("node.url", "--public-url", "the https:// URL viewers reach this edge at"),
        ("node.mbps", "--mbps", "Mbit/s of bandwidth offered"),
        ("node.cores", "--cores", "cores offered (default: this machine's)"),
        ("node.ram", "--ram", "GB of RAM offered (default: this machine's)"),
        ("node.gpu", "--gpu", "true or false"),
        ("node.ssd", "--ssd", "true or false"),
        ("server.idle_timeout", "--idle-timeout", "seconds"),
        ("server.max_header_bytes", "--max-header-bytes", "bytes, 1024 to 1048576"),
        ("log.level", "--log-level", "trace, debug, info, notice, warning, error or critical"),
        ("transcode.enabled", "--transcode", "true or false"),
        ("transcode.keys", "--transcode-keys", "a folder of CONTENT.key files"),
        ("transcode.worker", "--transcode-worker", "the depin executable"),
        ("transcode.timeout", "--transcode-timeout", "seconds"),
        ("transcode.memory_limit", "--transcode-memory", "bytes, or a size such as 2GiB (at least 256MiB)"),
        ("transcode.jobs", "--transcode-jobs", "1 to 64 workers at once"),
    ]

    /// The environment variable for a key: `cache.dir` → `DEPIN_EDGE_CACHE_DIR`.
    package static func environmentName(_ key: String) -> String {
        "DEPIN_EDGE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// Loads the layers and checks every value.
    /// - Parameters:
    ///   - file: path of a TOML file, or nil.
    ///   - environment: the process environment (only `DEPIN_EDGE_*` is read).
    ///   - flags: values given on the command line, by TOML key; lists hold every repetition.
    /// - Throws: ``ConfigurationError`` naming the setting and what it should be.
    package static func load(file: String?, environment: [String: String], flags: [String: [String]]) throws -> EdgeConfiguration {
        let known = keys.map(\.key)
        var fileValues: [AbsoluteConfigKey: ConfigValue] = [:]
        if let file {
            for (key, value) in try readTOML(file) {
                guard known.contains(key) else { throw ConfigurationError.unknownKey(key, in: file, known: known) }
                fileValues[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = value
            }
        }
        let knownEnvironment = Set(known.map(environmentName))
        for name in environment.keys where name.hasPrefix("DEPIN_EDGE_") && !knownEnvironment.contains(name) {
            throw ConfigurationError.unknownKey(name, in: "environment", known: known.map(environmentName))
        }
        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, values) in flags where !values.isEmpty {
            let path = AbsoluteConfigKey(key.split(separator: ".").map(String.init))
            flagValues[path] = key == "upstream.urls" ? ConfigValue(.stringArray(values), isSecret: false) : ConfigValue(.string(values.last!), isSecret: false)
        }
        var environmentValues: [String: String] = [:]
        for key in known {
            if let value = environment[environmentName(key)] {
                environmentValues[key.uppercased().replacingOccurrences(of: ".", with: "_")] = value
            }
        }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: flagValues),
            EnvironmentVariablesProvider(environmentVariables: environmentValues),
            InMemoryProvider(name: "file", values: fileValues),
        ])
        return try EdgeConfiguration(reader: reader)
    }

    /// Flattens a TOML file into `section.key` → value (scalars as strings, lists as string lists).
    static func readTOML(_ path: String) throws -> [(String, ConfigValue)] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError.file(path, "cannot be read (\(error.localizedDescription))")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError.file(path, "line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigurationError.file(path, "is not valid TOML: \(error)")
        }
        var out: [(String, ConfigValue)] = []
        func visit(_ table: TOMLTable, prefix: String) throws {
            for (name, value) in table {
                let key = prefix.isEmpty ? name : "\(prefix).\(name)"
                if let sub = value.table {
                    try visit(sub, prefix: key)
                } else if let array = value.array {
                    out.append((key, ConfigValue(.stringArray(array.map { scalarText($0) ?? "" }), isSecret: false)))
                } else if let text = scalarText(value) {
                    out.append((key, ConfigValue(.string(text), isSecret: false)))
                } else {
                    throw ConfigurationError.file(path, "setting '\(key)' has an unsupported type (\(value.type))")
                }
            }
        }
        try visit(table, prefix: "")
        return out
    }

    private static func scalarText(_ value: any TOMLValueConvertible) -> String? {
        if let s = value.string { return s }
        if let i = value.int { return String(i) }
        if let d = value.double { return String(d) }
        if let b = value.bool { return String(b) }
        return nil
    }

    init(reader: ConfigReader) throws {
        self.init()
        func text(_ key: String) -> String? {
            guard let value = reader.string(forKey: ConfigKey(key)) else { return nil }
            return value.trimmingCharacters(in: .whitespaces)
        }
        func seconds(_ key: String, _ current: Double) throws -> Double {
            guard let raw = text(key) else { return current }
            guard let value = Double(raw), value > 0, value <= 86_400 else {
                throw ConfigurationError.invalid(key, raw, expected: "seconds, more than 0 and at most 86400")
            }
            return value
        }
        func address(_ key: String, _ current: HostAndPort?) throws -> HostAndPort? {
            guard let raw = text(key) else { return current }
            if raw.isEmpty || raw == "off" { return nil }
            guard let parsed = HostAndPort(raw) else { throw ConfigurationError.invalid(key, raw, expected: "HOST:PORT, or \"off\"") }
            return parsed
        }
        func degrees(_ key: String, limit: Double) throws -> Double? {
            guard let raw = text(key), !raw.isEmpty else { return nil }
            guard let value = Double(raw), abs(value) <= limit else {
                throw ConfigurationError.invalid(key, raw, expected: "degrees from -\(Int(limit)) to \(Int(limit))")
            }
            return value
        }
        func nonEmpty(_ key: String) -> String? { text(key).flatMap { $0.isEmpty ? nil : $0 } }

        listen = try address("listen", listen)
        httpListen = try address("http_listen", httpListen)
        tlsCertificate = nonEmpty("tls.cert")
        tlsKey = nonEmpty("tls.key")
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw ConfigurationError.invalid("tls.cert", tlsCertificate ?? tlsKey ?? "", expected: "tls.cert and tls.key given together, or neither")
        }
        if let dir = nonEmpty("cache.dir") { cacheDirectory = dir }
        if let raw = text("cache.size") {
            guard let size = ByteSize.parse(raw), size >= 1 << 20 else {
                throw ConfigurationError.invalid("cache.size", raw, expected: "a size of at least 1MiB, such as 20GiB or 500MB")
            }
            cacheSize = size
        }
        if let raw = text("cache.memory") {
            guard let size = ByteSize.parse(raw) else { throw ConfigurationError.invalid("cache.memory", raw, expected: "a size such as 256MiB, or 0") }
            cacheMemory = size
        }
        upstreams = reader.stringArray(forKey: "upstream.urls", default: []).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for url in upstreams {
            guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https", "file"].contains(scheme),
                scheme == "file" ? !parsed.path.isEmpty : parsed.host != nil
            else {
                throw ConfigurationError.invalid("upstream.urls", url, expected: "an https://, http:// or file:// URL")
            }
        }
        upstreamCAFile = nonEmpty("upstream.ca_file")
        upstreamConnectTimeout = try seconds("upstream.connect_timeout", upstreamConnectTimeout)
        upstreamReadTimeout = try seconds("upstream.read_timeout", upstreamReadTimeout)
        coordinator = nonEmpty("coordinator.url")
        if let coordinator, URL(string: coordinator)?.host == nil || !(coordinator.hasPrefix("http://") || coordinator.hasPrefix("https://")) {
            throw ConfigurationError.invalid("coordinator.url", coordinator, expected: "an https:// or http:// URL")
        }
        identity = nonEmpty("coordinator.identity")
        claimInterval = try seconds("coordinator.claim_interval", claimInterval)
        guard (1...3600).contains(claimInterval) else {
            throw ConfigurationError.invalid("coordinator.claim_interval", String(claimInterval), expected: "seconds, 1 to 3600")
        }
        if let raw = text("node.class") {
            guard let named = DeviceClass.named(raw) else {
                throw ConfigurationError.invalid("node.class", raw, expected: "mobile, pc or server")
            }
            deviceClass = named
        }
        latitude = try degrees("node.lat", limit: 90)
        longitude = try degrees("node.lon", limit: 180)
        region = nonEmpty("node.region")
        publicURL = nonEmpty("node.url")
        if let url = publicURL, URL(string: url)?.host == nil || !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            throw ConfigurationError.invalid("node.url", url, expected: "an https:// or http:// URL")
        }
        if let raw = text("node.mbps") {
            guard let value = Double(raw), value > 0, value < 1e6 else { throw ConfigurationError.invalid("node.mbps", raw, expected: "Mbit/s, more than 0") }
            mbps = value
        }
        if let raw = text("node.cores"), !raw.isEmpty {
            guard let value = Int(raw), (1...4096).contains(value) else { throw ConfigurationError.invalid("node.cores", raw, expected: "1 to 4096") }
            cores = value
        }
        if let raw = text("node.ram"), !raw.isEmpty {
            guard let value = Double(raw), value > 0, value < 1e6 else { throw ConfigurationError.invalid("node.ram", raw, expected: "GB, more than 0") }
            ramGB = value
        }
        for (key, current) in [("node.gpu", gpu), ("node.ssd", ssd)] {
            guard let raw = text(key) else { continue }
            guard let value = Bool(raw.lowercased()) else { throw ConfigurationError.invalid(key, raw, expected: "true or false") }
            if key == "node.gpu" { gpu = value } else { ssd = value }
            _ = current
        }
        idleTimeout = try seconds("server.idle_timeout", idleTimeout)
        if let raw = text("server.max_header_bytes") {
            guard let value = Int(raw), (1024...(1 << 20)).contains(value) else {
                throw ConfigurationError.invalid("server.max_header_bytes", raw, expected: "bytes, 1024 to 1048576")
            }
            maxHeaderBytes = value
        }
        if let raw = text("log.level") {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(raw) else {
                throw ConfigurationError.invalid("log.level", raw, expected: "trace, debug, info, notice, warning, error or critical")
            }
            logLevel = raw
        }
        if listen == nil && httpListen == nil {
            throw ConfigurationError.invalid("listen", "off", expected: "at least one of listen and http_listen")
        }
        if let raw = text("transcode.enabled") {
            guard let value = Bool(raw.lowercased()) else { throw ConfigurationError.invalid("transcode.enabled", raw, expected: "true or false") }
            transcode.enabled = value
        }
        transcode.keyDirectory = nonEmpty("transcode.keys")
        transcode.worker = nonEmpty("transcode.worker")
        transcode.timeout = try seconds("transcode.timeout", transcode.timeout)
        if let raw = text("transcode.memory_limit") {
            guard let size = ByteSize.parse(raw), size >= 256 << 20 else {
                throw ConfigurationError.invalid("transcode.memory_limit", raw, expected: "a size of at least 256MiB, such as 2GiB")
            }
            transcode.memoryLimit = size
        }
        if let raw = text("transcode.jobs") {
            guard let value = Int(raw), (1...64).contains(value) else { throw ConfigurationError.invalid("transcode.jobs", raw, expected: "1 to 64") }
            transcode.jobs = value
        }
        if coordinator != nil {
            guard identity != nil else {
                throw ConfigurationError.invalid("coordinator.identity", "", expected: "a key file (depin keys generate) when coordinator.url is set")
            }
            guard (latitude != nil && longitude != nil) || region != nil else {
                throw ConfigurationError.invalid("node.lat", "", expected: "node.lat and node.lon, or node.region, when coordinator.url is set")
            }
        }
        if transcode.enabled {
            guard deviceClass.tasks.contains(.transcoding) else {
                throw ConfigurationError.invalid(
                    "transcode.enabled", "true", expected: "false for class \(deviceClass.name): only the pc class transcodes")
            }
            guard transcode.keyDirectory != nil || coordinator != nil else {
                throw ConfigurationError.invalid(
                    "transcode.keys", "", expected: "a folder of CONTENT.key files when transcode.enabled is true without coordinator.url")
            }
        }
    }
}

/// How an edge makes renditions on demand.
package struct TranscodeConfiguration: Sendable, Equatable {
    /// Make missing ladder renditions locally instead of asking upstream.
    package var enabled = false
    /// Content keys, one `CONTENT.key` (16 bytes) per title; the coordinator leases them later.
    package var keyDirectory: String?
    /// The `depin` executable run as `depin transcode-worker`; nil: this process's executable.
    package var worker: String?
    /// Seconds a worker may run before it is killed.
    package var timeout = 60.0
    /// Address-space limit of a worker, bytes.
    package var memoryLimit = 2 << 30
    /// Workers running at once (each uses the task's thread count).
    package var jobs = 1

    package init() {}
}

/// `host:port`, `[v6]:port`.
package struct HostAndPort: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    package init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Sizes such as `20GiB`, `500MB`, `1048576`.
package enum ByteSize {
    package static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
            ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40), ("B", 1),
        ]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let number = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number >= 0, number * Double(factor) < 9e18 else {
                return nil
            }
            return Int(number * Double(factor))
        }
        guard let plain = Int(t), plain >= 0 else { return nil }
        return plain
    }
}
