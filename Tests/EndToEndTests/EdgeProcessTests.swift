import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import TestSupport
import Testing

@Suite("depin edge as a process", .serialized)
struct EdgeProcessTests {
    static let bytes = patternBytes(2 * 1024 * 1024 + 17)

    @Test("kill -9 during a fill leaves no torn object: after restart the full, correct object is served")
    func crashDuringFill() async throws {
        let cache = TemporaryDirectory("crash-cache")
        defer { cache.remove() }
        try await SlowOrigin.with(files: ["movie/720p/7.ts": Self.bytes], pause: .milliseconds(40)) { origin in
            let upstream = "http://127.0.0.1:\(origin.port)"
            let edge = try await EdgeProcess.start(arguments: ["--cache-dir", cache.path, "--upstream", upstream])
            defer { edge.stop() }
            // Start a viewer and wait until part of the object is on disk.
            let viewer = Task { try? await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "\(edge.httpBase)/v/movie/720p/7.ts"]) }
            var partial = 0
            for _ in 0..<100 where partial < 256 * 1024 {
                try await Task.sleep(for: .milliseconds(20))
                partial = (try? FileManager.default.contentsOfDirectory(atPath: cache.path + "/tmp"))?.compactMap {
                    (try? FileManager.default.attributesOfItem(atPath: cache.path + "/tmp/" + $0)[.size] as? Int) ?? nil
                }.max() ?? 0
            }
            #expect(partial >= 256 * 1024, "the fill never got going")
            #expect(partial < Self.bytes.count + 2048, "the fill finished before the kill")
            edge.kill(SIGKILL)
            _ = await edge.waitForExit(seconds: 5)
            _ = await viewer.value
            let stored = FileManager.default.enumerator(atPath: cache.path + "/objects")?.compactMap { $0 as? String }.filter { $0.hasSuffix(".obj") } ?? []
            #expect(stored.isEmpty, "a torn object was published: \(stored)")

            // Restart on the same cache: the orphan goes, and the object is served whole.
            let restarted = try await EdgeProcess.start(arguments: ["--cache-dir", cache.path, "--upstream", upstream])
            defer { restarted.stop() }
            #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path + "/tmp").isEmpty)
            let out = NSTemporaryDirectory() + "crash-\(UUID()).ts"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let fetched = try await run("/usr/bin/curl", ["-s", "-o", out, "-w", "%{http_code}", "\(restarted.httpBase)/v/movie/720p/7.ts"])
            #expect(fetched.output == "200")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == Self.bytes)
            let again = try await run("/usr/bin/curl", ["-s", "-o", out, "-w", "%{http_code}", "\(restarted.httpBase)/v/movie/720p/7.ts"])
            #expect(again.output == "200")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == Self.bytes)
        }
    }

    @Test("SIGTERM lets in-flight responses finish over HTTP/1.1 and HTTP/2, then the edge exits 0")
    func gracefulShutdown() async throws {
        let cache = TemporaryDirectory("term-cache")
        defer { cache.remove() }
        try await SlowOrigin.with(files: ["movie/720p/1.ts": Self.bytes], pause: .milliseconds(30)) { origin in
            let edge = try await EdgeProcess.start(arguments: ["--cache-dir", cache.path, "--upstream", "http://127.0.0.1:\(origin.port)"])
            defer { edge.stop() }
            let out = NSTemporaryDirectory() + "term-\(UUID()).ts"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let out2 = out + ".h2"
            defer { try? FileManager.default.removeItem(atPath: out2) }
            let viewer = Task { try await run("/usr/bin/curl", ["-s", "-o", out, "-w", "%{http_code}", "\(edge.httpBase)/v/movie/720p/1.ts"]) }
            let h2Viewer = Task {
                try await run("/usr/bin/curl", ["-sk", "--http2", "-o", out2, "-w", "%{http_version} %{http_code}", "\(edge.httpsBase)/v/movie/720p/1.ts"])
            }
            // Both requests in flight (one fills, the other joins it), however busy the machine.
            for _ in 0..<200 {
                let metrics = try await run("/usr/bin/curl", ["-s", "\(edge.httpBase)/metrics"], mergeErrors: false).output
                if metrics.contains("depin_cache_lookups_total{result=\"joined\"} 1") || metrics.contains("depin_cache_lookups_total{result=\"joined\"} 2") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            edge.kill(SIGTERM)
            let result = try await viewer.value
            #expect(result.output == "200")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == Self.bytes)
            let h2Result = try await h2Viewer.value
            #expect(h2Result.output == "2 200")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out2))) == Self.bytes)
            #expect(await edge.waitForExit(seconds: 20) == 0, "edge log: \(edge.log)")
        }
    }

    @Test("/metrics shows request counters and latency histograms; /healthz reports the cache")
    func observability() async throws {
        let cache = TemporaryDirectory("metrics-cache")
        let origin = TemporaryDirectory("metrics-origin")
        defer { cache.remove(); origin.remove() }
        origin.write("movie/a/0.ts", patternBytes(10_000))
        let edge = try await EdgeProcess.start(arguments: ["--cache-dir", cache.path, "--upstream", "file://\(origin.path)"])
        defer { edge.stop() }
        _ = try await run("/usr/bin/curl", ["-sk", "--http2", "-o", "/dev/null", "\(edge.httpsBase)/v/movie/a/0.ts"])
        _ = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "\(edge.httpBase)/v/movie/a/404.ts"])
        let metrics = try await run("/usr/bin/curl", ["-s", "\(edge.httpBase)/metrics"]).output
        #expect(metrics.contains("depin_http_requests_total{status=\"200\"} 1"))
        #expect(metrics.contains("depin_http_requests_total{status=\"404\"} 1"))
        #expect(metrics.contains("depin_http_request_duration_seconds_bucket"))
        #expect(metrics.contains("depin_cache_fills_total{result=\"stored\"} 1"))
        let health = try await run("/usr/bin/curl", ["-s", "\(edge.httpBase)/healthz"]).output
        #expect(health.contains("\"status\":\"ok\"") && health.contains("\"objects\":1"))
    }

    @Test("a bad configuration is refused at start with the setting's name")
    func badConfiguration() async throws {
        let result = try await run(depinBinary, ["edge", "--cache-size", "huge", "--http-listen", "127.0.0.1:0"])
        #expect(result.status != 0)
        #expect(result.output.contains("cache.size"))
        let environment = ProcessInfo.processInfo.environment.merging(["DEPIN_EDGE_NODE_CLASS": "toaster"]) { $1 }
        let fromEnvironment = try await run(depinBinary, ["edge", "--http-listen", "127.0.0.1:0"], environment: environment)
        #expect(fromEnvironment.status != 0)
        #expect(fromEnvironment.output.contains("node.class"))
    }
}
