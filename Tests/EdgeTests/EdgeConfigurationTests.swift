import Foundation
import Testing

@testable import Edge

@Suite("Edge configuration")
struct EdgeConfigurationTests {
    static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("edge.conf").path

    @Test("the documented sample edge.conf parses to the defaults and documents every key")
    func sampleParses() throws {
        let loaded = try EdgeConfiguration.load(file: Self.sample, environment: [:], flags: [:])
        #expect(loaded == EdgeConfiguration())
        let text = try String(contentsOfFile: Self.sample, encoding: .utf8)
        for (key, flag, _) in EdgeConfiguration.keys {
            let name = String(key.split(separator: ".").last!)
            #expect(text.contains("\n\(name) = "), "edge.conf does not document \(key)")
            #expect(text.contains(flag), "edge.conf does not name the flag \(flag)")
        }
    }

    @Test("flags beat the environment, which beats the file")
    func layering() throws {
        let file = NSTemporaryDirectory() + "edge-\(UUID()).conf"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
        listen = "127.0.0.1:9000"
        [cache]
        dir = "/from/file"
        size = "2GiB"
        [upstream]
        urls = ["file:///srv/a", "https://origin.example/v"]
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try EdgeConfiguration.load(
            file: file,
            environment: ["DEPIN_EDGE_CACHE_DIR": "/from/env", "DEPIN_EDGE_CACHE_SIZE": "3GiB", "DEPIN_EDGE_HTTP_LISTEN": "127.0.0.1:8080"],
            flags: ["cache.size": ["500MB"]])
        #expect(loaded.listen == HostAndPort(host: "127.0.0.1", port: 9000))
        #expect(loaded.httpListen == HostAndPort(host: "127.0.0.1", port: 8080))
        #expect(loaded.cacheDirectory == "/from/env")
        #expect(loaded.cacheSize == 500_000_000)
        #expect(loaded.upstreams == ["file:///srv/a", "https://origin.example/v"])
        let fromEnvironment = try EdgeConfiguration.load(
            file: file, environment: ["DEPIN_EDGE_UPSTREAM_URLS": "http://a:1,http://b:2"], flags: [:])
        #expect(fromEnvironment.upstreams == ["http://a:1", "http://b:2"])
    }

    @Test(
        "bad settings are refused with the key's name",
        arguments: [
            ("cache.size", "lots"), ("cache.size", "10"), ("listen", "nowhere"), ("upstream.urls", "ftp://x/y"),
            ("node.class", "fridge"), ("node.lat", "91"), ("server.idle_timeout", "-1"), ("log.level", "loud"),
            ("server.max_header_bytes", "12"), ("coordinator.url", "not a url"),
            ("transcode.enabled", "maybe"), ("transcode.timeout", "0"), ("transcode.memory_limit", "1MiB"), ("transcode.jobs", "0"),
        ])
    func refused(key: String, value: String) {
        #expect {
            try EdgeConfiguration.load(file: nil, environment: [:], flags: [key: [value]])
        } throws: { error in
            (error as? ConfigurationError)?.description.contains(key) == true
        }
    }

    @Test("only the pc class transcodes, and only with a key folder")
    func transcodeClass() throws {
        let pc = try EdgeConfiguration.load(
            file: nil, environment: [:],
            flags: ["node.class": ["pc"], "transcode.enabled": ["true"], "transcode.keys": ["/srv/keys"], "transcode.jobs": ["2"]])
        #expect(pc.transcode.enabled && pc.transcode.keyDirectory == "/srv/keys" && pc.transcode.jobs == 2)
        for deviceClass in ["server", "mobile"] {
            #expect {
                try EdgeConfiguration.load(
                    file: nil, environment: [:], flags: ["node.class": [deviceClass], "transcode.enabled": ["true"], "transcode.keys": ["/k"]])
            } throws: { error in
                (error as? ConfigurationError)?.description.contains("only the pc class transcodes") == true
            }
        }
        #expect {
            try EdgeConfiguration.load(file: nil, environment: [:], flags: ["node.class": ["pc"], "transcode.enabled": ["true"]])
        } throws: { error in
            (error as? ConfigurationError)?.description.contains("transcode.keys") == true
        }
    }

    @Test("unknown keys in the file or environment are refused")
    func unknownKeys() throws {
        let file = NSTemporaryDirectory() + "edge-\(UUID()).conf"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "[cache]\nsise = \"1GiB\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try EdgeConfiguration.load(file: file, environment: [:], flags: [:]) }
        #expect(throws: ConfigurationError.self) {
            try EdgeConfiguration.load(file: nil, environment: ["DEPIN_EDGE_CACHE_SISE": "1"], flags: [:])
        }
        try "listen = [\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try EdgeConfiguration.load(file: file, environment: [:], flags: [:]) }
    }
}
