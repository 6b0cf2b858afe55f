import Foundation
import TestSupport
import Testing

@Suite("malformed requests at the edge", .serialized)
struct MalformedRequestTests {
    /// Sends each case as a request of its own on a new HTTP/2 connection (python3-h2, its own
    /// checks off, so it sends what a hostile client would) and prints, as JSON, what the edge
    /// did with it: `reset` (RST_STREAM), `goaway`, or `answered STATUS`.
    static let h2Client = """
        import json, socket, ssl, sys
        import h2.config, h2.connection, h2.events
        port, cases = int(sys.argv[1]), json.loads(sys.argv[2])
        def attempt(headers, end_stream):
            context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
            config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False,
                                               validate_inbound_headers=False, header_encoding=None)
            connection = h2.connection.H2Connection(config=config)
            connection.initiate_connection()
            connection.send_headers(1, [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers], end_stream=end_stream)
            if not end_stream: connection.end_stream(1)
            sock.sendall(connection.data_to_send())
            try:
                while True:
                    data = sock.recv(65536)
                    if not data: return "closed"
                    for event in connection.receive_data(data):
                        if isinstance(event, h2.events.ResponseReceived) and event.stream_id == 1:
                            return "answered " + dict(event.headers)[b":status"].decode()
                        if isinstance(event, h2.events.StreamReset) and event.stream_id == 1: return "reset"
                        if isinstance(event, h2.events.ConnectionTerminated): return "goaway"
                    sock.sendall(connection.data_to_send())
            except socket.timeout:
                return "no answer"
            finally:
                sock.close()
        print(json.dumps({name: attempt(case["headers"], case.get("endStream", True)) for name, case in cases.items()}))
        """

    @Test("RFC 9113 §8.2: malformed HTTP/2 requests are reset, never answered; the same request well-formed is answered")
    func malformedHTTP2() async throws {
        let dir = TemporaryDirectory("malformed")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/origin/movie", withIntermediateDirectories: true)
        try Data("#EXTM3U\n#EXT-X-ENDLIST\n".utf8).write(to: URL(fileURLWithPath: dir.path + "/origin/movie/index.m3u8"))
        let edge = try await EdgeProcess.start(arguments: ["--cache-dir", dir.path + "/cache", "--upstream", "file://\(dir.path)/origin"])
        defer { edge.stop() }
        let base = [[":method", "GET"], [":scheme", "https"], [":authority", "127.0.0.1"], [":path", "/v/movie/index.m3u8"]]
        let cases: [String: [String: Any]] = [
            "well-formed": ["headers": base],
            "pseudo-header after a regular field": ["headers": [base[0], ["accept", "*/*"], base[1], base[2], base[3]]],
            "duplicate :path": ["headers": base + [[":path", "/v/movie/index.m3u8"]]],
            "upper-case field name": ["headers": base + [["Accept", "*/*"]]],
            "connection field": ["headers": base + [["connection", "keep-alive"]]],
            "transfer-encoding field": ["headers": base + [["transfer-encoding", "chunked"]]],
            "te other than trailers": ["headers": base + [["te", "gzip"]]],
            "CR in a value": ["headers": base + [["x-note", "a\rb"]]],
            "LF in a value": ["headers": base + [["x-note", "a\nb"]]],
            "NUL in a value": ["headers": base + [["x-note", "a\u{0}b"]]],
            "content-length on a GET without a body": ["headers": base + [["content-length", "10"]]],
            "no :path": ["headers": Array(base.prefix(3))],
        ]
        let encoded = String(decoding: try JSONSerialization.data(withJSONObject: cases), as: UTF8.self)
        let result = try await run("/usr/bin/python3", ["-c", Self.h2Client, String(edge.https), encoded], mergeErrors: false)
        let outcomes = try #require(try JSONSerialization.jsonObject(with: result.data) as? [String: String], "\(result.output)")
        #expect(outcomes["well-formed"] == "answered 200", "\(outcomes)")
        for name in cases.keys where name != "well-formed" {
            #expect(outcomes[name] == "reset" || outcomes[name] == "goaway", "\(name): \(outcomes[name] ?? "nothing")")
        }
        let health = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(edge.httpBase)/healthz"], mergeErrors: false)
        #expect(health.output == "200", "the edge is still up")
    }

    /// Opens an HTTP/2 connection, breaks the protocol (SETTINGS_ENABLE_PUSH = 2, a connection
    /// error), then keeps writing; prints whether a GOAWAY came and when the edge closed.
    static let connectionErrorClient = """
        import socket, ssl, struct, sys, time
        context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        sock = context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5), server_hostname="localhost")
        sock.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n")
        payload = struct.pack(">HI", 2, 2)
        sock.sendall(struct.pack(">I", len(payload))[1:] + bytes([4, 0]) + struct.pack(">I", 0) + payload)
        received, started, closed, written = b"", time.monotonic(), None, 0
        sock.settimeout(0.2)
        while time.monotonic() - started < 5 and closed is None:
            try:
                data = sock.recv(65536)
                if not data: closed = time.monotonic() - started
                received += data
            except socket.timeout:
                pass
            except (ConnectionResetError, ssl.SSLError, OSError):
                closed = time.monotonic() - started
            if closed is None:
                try:
                    sock.sendall(b"\\0" * 65536); written += 65536
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    closed = time.monotonic() - started
        goaway = any(received[i + 3] == 7 for i in range(0, max(0, len(received) - 9)) if received[i:i + 3] == b"\\0\\0\\x08")
        print("goaway" if goaway else "no goaway", "closed" if closed is not None else "open", "%.2f" % (closed or -1), written)
        """

    @Test("after a connection error the edge sends GOAWAY and closes the connection, reading nothing more")
    func connectionErrorCloses() async throws {
        let dir = TemporaryDirectory("connection-error")
        defer { dir.remove() }
        // Started with a soft open-file limit of 1,024 (as systemd starts services), which the
        // edge raises to the hard limit.
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        var low = saved
        low.rlim_cur = min(saved.rlim_cur, 1024)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &low)
        let started = Result { try EdgeProcess(arguments: ["--cache-dir", dir.path + "/cache", "--upstream", "file://\(dir.path)"]) }
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
        let edge = try started.get()
        defer { edge.stop() }
        let result = try await run("/usr/bin/python3", ["-c", Self.connectionErrorClient, String(edge.https)], mergeErrors: false)
        let words = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        #expect(words.first == "goaway", "\(result.output)")
        #expect(words.count == 4 && words[1] == "closed", "the connection stayed open after its GOAWAY: \(result.output)")
        #expect((Double(words.count == 4 ? words[2] : "") ?? 99) < 2, "\(result.output)")
        #expect((Int(words.count == 4 ? words[3] : "") ?? Int.max) < 8 << 20, "the edge kept reading what the client wrote: \(result.output)")
        // It raised its open-file limit to the hard limit at start.
        let limits = try String(contentsOfFile: "/proc/\(edge.process.processIdentifier)/limits", encoding: .utf8)
        let files = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }).split(separator: " ", omittingEmptySubsequences: true)
        #expect(files.count >= 5 && files[3] == files[4], "soft limit \(files.count > 3 ? files[3] : "?") is not the hard limit \(files.count > 4 ? files[4] : "?")")
    }

    /// Seconds until the server closes a connection to `port` that sends `bytes` once and then a
    /// byte every half second (nil: nothing more); nil when it was still open after `limit`.
    static func secondsUntilClosed(port: Int, bytes: String, trickle: Bool, limit: Double) -> Double? {
        guard let fd = connectLoopback(port: port) else { return 0 }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        let started = ContinuousClock.now
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now - started < .milliseconds(Int(limit * 1000)) {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                let elapsed = ContinuousClock.now - started
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
            if trickle, send(fd, "X", 1, Int32(MSG_NOSIGNAL)) < 0 {
                let elapsed = ContinuousClock.now - started
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
        }
        return nil
    }

    @Test("connections that never finish TLS, and slow request heads, are closed after the idle timeout on the edge and the coordinator")
    func slowClientsAreClosed() async throws {
        let dir = TemporaryDirectory("slow-clients")
        defer { dir.remove() }
        let edge = try await EdgeProcess.start(arguments: ["--cache-dir", dir.path + "/cache", "--upstream", "file://\(dir.path)", "--idle-timeout", "2"])
        defer { edge.stop() }
        let certificate = try await run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                "-keyout", dir.path + "/key.pem", "-out", dir.path + "/cert.pem",
            ])
        #expect(certificate.status == 0, "\(certificate.output)")
        let coordinator = try await CoordinatorProcess.start([
            "--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/c.key", "--idle-timeout", "2",
            "--listen", "127.0.0.1:0", "--tls-cert", dir.path + "/cert.pem", "--tls-key", dir.path + "/key.pem",
        ])
        defer { coordinator.stop() }
        let coordinatorTLS = try #require(coordinator.httpsPort)
        let results = await withTaskGroup(of: (String, Double?).self) { group in
            for (name, port, bytes, trickle) in [
                ("edge TLS, silent", edge.https, "", false), ("edge TLS, a ClientHello trickled", edge.https, "\u{16}\u{03}\u{01}", true),
                ("edge HTTP/1.1 head trickled", edge.http, "GET /healthz HTTP/1.1\r\nHost: x\r\n", true),
                ("coordinator HTTP/1.1 head trickled", coordinator.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", true),
                ("coordinator, silent", coordinator.port, "", false),
                ("coordinator TLS, silent", coordinatorTLS, "", false),
                ("coordinator TLS, a ClientHello trickled", coordinatorTLS, "\u{16}\u{03}\u{01}", true),
            ] {
                group.addTask { (name, Self.secondsUntilClosed(port: port, bytes: bytes, trickle: trickle, limit: 15)) }
            }
            // An array: a nil (still open) stored in a dictionary would remove its key.
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (name, seconds) in results {
            #expect(seconds != nil, "\(name): still open after 15 s")
        }
        let health = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(coordinator.base)/healthz"], mergeErrors: false)
        #expect(health.output == "200")
    }

    /// Opens 1,000 streams on one connection, each a GET announcing a body it never sends (which
    /// the edge answers 400 and resets); prints how many answers came before the edge sent
    /// GOAWAY and closed. (Sending the body too ends the connection at the first stream: DATA
    /// on a stream the edge reset is a stream error, and the edge closes on it.)
    static let bodyOnGetFlood = """
        import socket, ssl, sys
        import h2.config, h2.connection, h2.events, h2.exceptions
        context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        sock = context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5), server_hostname="localhost")
        connection = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding=None))
        connection.initiate_connection(); sock.sendall(connection.data_to_send())
        headers = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"127.0.0.1"), (b":path", b"/v/movie/index.m3u8")]
        answers, goaway, closed = 0, None, False
        try:
            for stream in range(1, 2001, 2):
                connection.send_headers(stream, headers, end_stream=False)
                sock.sendall(connection.data_to_send())
                done = False
                while not done and goaway is None:
                    data = sock.recv(1 << 16)
                    if not data:
                        closed = True
                        break
                    for event in connection.receive_data(data):
                        if isinstance(event, h2.events.ResponseReceived): answers += 1
                        if isinstance(event, h2.events.StreamReset) and event.stream_id == stream: done = True
                        if isinstance(event, h2.events.ConnectionTerminated): goaway = event.error_code
                    sock.sendall(connection.data_to_send())
                if closed or goaway is not None: break
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        print(answers, "goaway" if goaway is not None else "no-goaway", int(goaway or 0))
        """

    @Test("streams the edge resets itself count against a budget: 1,000 GETs announcing bodies on one connection end in GOAWAY (ENHANCE_YOUR_CALM), not 1,000 answers")
    func serverResetBudget() async throws {
        let dir = TemporaryDirectory("reset-budget")
        defer { dir.remove() }
        let edge = try await EdgeProcess.start(arguments: ["--cache-dir", dir.path + "/cache", "--upstream", "file://\(dir.path)"])
        defer { edge.stop() }
        let result = try await run("/usr/bin/python3", ["-c", Self.bodyOnGetFlood, String(edge.https)], mergeErrors: false)
        let words = result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        #expect(words.count == 3, "\(result.output)")
        #expect((Int(words.first ?? "") ?? Int.max) <= 260, "answers before the edge stopped: \(result.output)")
        #expect(words.count == 3 && words[1] == "goaway" && words[2] == "11", "GOAWAY with ENHANCE_YOUR_CALM (11): \(result.output)")
    }

    @Test("HTTP/1.1 requests without a Host or with two get 400 and the connection closes, at the edge and the coordinator; encoded slashes in paths are refused")
    func hostRuleAndEncodedSlashes() async throws {
        let dir = TemporaryDirectory("host-rule")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/origin/movie/a", withIntermediateDirectories: true)
        try Data("#EXTM3U\n#EXT-X-ENDLIST\n".utf8).write(to: URL(fileURLWithPath: dir.path + "/origin/movie/a/index.m3u8"))
        let edge = try await EdgeProcess.start(arguments: ["--cache-dir", dir.path + "/cache", "--upstream", "file://\(dir.path)/origin"])
        defer { edge.stop() }
        let coordinator = try await CoordinatorProcess.start(["--db", "sqlite:\(dir.path)/c.sqlite", "--identity", dir.path + "/c.key"])
        defer { coordinator.stop() }
        func raw(_ request: String, port: Int? = nil) throws -> String {
            guard let fd = connectLoopback(port: port ?? edge.http) else { throw ToolError("no connection") }
            defer { close(fd) }
            setReceiveTimeout(fd, seconds: 5)
            _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
            var answer = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                answer += buffer[..<count]
            }
            return String(decoding: answer, as: UTF8.self)
        }
        let good = try raw("GET /v/movie/a/index.m3u8 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(good.hasPrefix("HTTP/1.1 200"), "\(good.prefix(200))")
        let missing = try raw("GET /v/movie/a/index.m3u8 HTTP/1.1\r\nAccept: */*\r\n\r\nGET /v/movie/a/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(missing.hasPrefix("HTTP/1.1 400") && missing.contains("needs a Host header"), "\(missing.prefix(300))")
        #expect(!missing.contains("HTTP/1.1 200"), "nothing after the refused request is answered")
        let twice = try raw("GET /v/movie/a/index.m3u8 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        #expect(twice.hasPrefix("HTTP/1.1 400") && twice.contains("one Host header"), "\(twice.prefix(300))")
        // The coordinator's HTTP/1.1 listeners keep the same rule.
        let coordinatorMissing = try raw("GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n", port: coordinator.port)
        #expect(coordinatorMissing.hasPrefix("HTTP/1.1 400") && coordinatorMissing.contains("needs a Host header"), "\(coordinatorMissing.prefix(300))")
        let coordinatorGood = try raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", port: coordinator.port)
        #expect(coordinatorGood.hasPrefix("HTTP/1.1 200"), "\(coordinatorGood.prefix(200))")
        let slash = try await run("/usr/bin/curl", ["-s", "-w", " %{http_code}", "\(edge.httpBase)/v/movie/a%2Findex.m3u8"], mergeErrors: false)
        #expect(slash.output.hasSuffix(" 400") && slash.output.contains("encodes a slash"), "\(slash.output)")
    }
}
