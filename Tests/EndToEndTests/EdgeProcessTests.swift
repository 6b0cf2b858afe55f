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

    /// An HTTP/1.1 origin (Python, raw sockets) whose bodies end when it closes the connection:
    /// no Content-Length, no chunked coding. `mode` in `dir` says what it sends: `torn` (half the
    /// bytes), `whole`, or `digest` (whole, with a `Repr-Digest`). It answers 20 connections at
    /// most and gives up after two minutes without one.
    static let closingOrigin = """
        import base64, hashlib, os, signal, socket, sys
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # the test runner's threads block it
        body = open(sys.argv[2], "rb").read()
        server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0)); server.listen(16); server.settimeout(120)
        print(server.getsockname()[1], flush=True)
        for _ in range(20):
            connection, _ = server.accept()
            connection.settimeout(10)
            request = b""
            while b"\\r\\n\\r\\n" not in request:
                data = connection.recv(65536)
                if not data: break
                request += data
            mode = open(os.path.join(sys.argv[1], "mode")).read().strip()
            head = "HTTP/1.1 200 OK\\r\\nContent-Type: video/mp2t\\r\\nConnection: close\\r\\n"
            if mode == "digest":
                head += "Repr-Digest: sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":\\r\\n"
            connection.sendall((head + "\\r\\n").encode())
            connection.sendall(body[: len(body) // 2] if mode == "torn" else body)
            connection.close()
        """

    @Test("a body that ends when its origin closes the connection is never stored unless a digest vouches for it: cut short, nothing is kept; fixed, it is served whole")
    func closeDelimitedOrigin() async throws {
        let dir = TemporaryDirectory("closing-origin")
        defer { dir.remove() }
        try Data(Self.bytes).write(to: URL(fileURLWithPath: dir.path + "/body"))
        try "torn".write(toFile: dir.path + "/mode", atomically: true, encoding: .utf8)
        let origin = Process()
        origin.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        origin.arguments = ["-c", Self.closingOrigin, dir.path, dir.path + "/body"]
        let out = Pipe()
        origin.standardOutput = out
        try origin.run()
        defer {
            kill(origin.processIdentifier, SIGKILL)
            origin.waitUntilExit()
        }
        let port = try #require(Int(String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        let edge = try await EdgeProcess.start(arguments: ["--cache-dir", dir.path + "/cache", "--upstream", "http://127.0.0.1:\(port)"])
        defer { edge.stop() }
        let file = dir.path + "/fetched.ts"
        func fetch() async throws -> [UInt8] {
            _ = try await run("/usr/bin/curl", ["-s", "-o", file, "\(edge.httpBase)/v/movie/720p/3.ts"])
            return Array((try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data())
        }
        func objects() async throws -> Int {
            let health = try await run("/usr/bin/curl", ["-s", "\(edge.httpBase)/healthz"], mergeErrors: false)
            let json = try JSONSerialization.jsonObject(with: health.data) as? [String: Any]
            return (json?["cache"] as? [String: Any])?["objects"] as? Int ?? -1
        }
        // Cut short: whatever reached the viewer, nothing is kept.
        let torn = try await fetch()
        #expect(torn.count < Self.bytes.count)
        #expect(try await objects() == 0, "a body of unknown completeness was stored")
        #expect(edge.log.contains("served, not stored"), "\(edge.log.suffix(500))")
        // The origin is fixed: the object comes whole (and, with no digest, is still not kept).
        try "whole".write(toFile: dir.path + "/mode", atomically: true, encoding: .utf8)
        #expect(try await fetch() == Self.bytes)
        #expect(try await objects() == 0)
        // With a digest that vouches for it, the same close-delimited body is stored.
        try "digest".write(toFile: dir.path + "/mode", atomically: true, encoding: .utf8)
        #expect(try await fetch() == Self.bytes)
        #expect(try await objects() == 1)
        try "torn".write(toFile: dir.path + "/mode", atomically: true, encoding: .utf8)
        #expect(try await fetch() == Self.bytes, "served from the cache now")
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
