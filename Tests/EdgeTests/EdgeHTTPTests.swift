import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

@testable import Edge

@Suite("Edge over HTTP/2 and HTTP/1.1", .serialized)
struct EdgeHTTPTests {
    static let segment = patternBytes(1_000_003)
    static let playlist = Array(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:4.0,\n0.ts\n#EXT-X-ENDLIST\n".utf8)

    static func prepare(_ origin: TemporaryDirectory) {
        origin.write("movie/720p/0.ts", segment)
        origin.write("movie/720p/index.m3u8", playlist)
        origin.write("live/720p/index.m3u8", Array("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n0.ts\n".utf8))
        origin.write("movie/720p/cover.png", [1, 2, 3])
    }

    @Test("serves segments and playlists over HTTP/2 with HLS headers, strong ETag and digest")
    func basics() async throws {
        try await LiveEdge.with(prepare: Self.prepare) { edge in
            let client = sharedClient
            let first = try await fetch(client, "\(edge.httpsBase)/v/movie/720p/0.ts")
            #expect(first.status == 200)
            #expect(first.version.major == 2)
            #expect(byteMismatch(first.body, Self.segment) == nil)
            let second = try await fetch(client, "\(edge.httpsBase)/v/movie/720p/0.ts")
            #expect(byteMismatch(second.body, Self.segment) == nil)
            #expect(second.headers["content-type"] == ["video/mp2t"])
            #expect(second.headers["cache-control"] == ["public, max-age=31536000, immutable"])
            #expect(second.headers["accept-ranges"] == ["bytes"])
            let etag = try #require(second.headers["etag"].first)
            #expect(etag.hasPrefix("\"") && !etag.hasPrefix("W/"))
            #expect(second.headers["repr-digest"].first?.hasPrefix("sha-256=:") == true)
            #expect(second.headers["last-modified"].first.flatMap(HTTPDate.parse) != nil)

            let list = try await fetch(client, "\(edge.httpsBase)/v/movie/720p/index.m3u8")
            #expect(byteMismatch(list.body, Self.playlist) == nil)
            #expect(list.headers["content-type"] == ["application/vnd.apple.mpegurl"])
            #expect(list.headers["cache-control"] == ["public, max-age=86400"])
            let live = try await fetch(client, "\(edge.httpsBase)/v/live/720p/index.m3u8")
            #expect(live.headers["cache-control"] == ["public, max-age=3"])

            // Web players on other origins may read media and its headers, and preflight.
            #expect(second.headers["access-control-allow-origin"] == ["*"])
            #expect(second.headers["access-control-expose-headers"].first?.contains("Content-Range") == true)
            for base in [edge.httpsBase, edge.httpBase] {
                let preflight = try await fetch(
                    client, "\(base)/v/movie/720p/0.ts", method: .OPTIONS,
                    headers: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "range")])
                #expect(preflight.status == 204)
                #expect(preflight.headers["access-control-allow-headers"].first?.contains("Range") == true)
            }

            let head = try await fetch(client, "\(edge.httpsBase)/v/movie/720p/0.ts", method: .HEAD)
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(head.headers["content-length"] == [String(Self.segment.count)])
            #expect(head.headers["etag"] == second.headers["etag"])
        }
    }

    @Test("range conformance: every form, byte-compared with the file, over both protocols")
    func rangeConformance() async throws {
        try await LiveEdge.with(prepare: Self.prepare) { edge in
            let client = sharedClient
            let file = Self.segment
            let n = file.count
            // Warm the cache once, then check both a cached object and the protocol variants.
            _ = try await fetch(client, "\(edge.httpsBase)/v/movie/720p/0.ts")
            for base in [edge.httpsBase, edge.httpBase] {
                let url = "\(base)/v/movie/720p/0.ts"
                let single: [(String, Range<Int>)] = [
                    ("bytes=0-0", 0..<1), ("bytes=0-99", 0..<100), ("bytes=500000-", 500_000..<n), ("bytes=-1", (n - 1)..<n),
                    ("bytes=-200", (n - 200)..<n), ("bytes=999990-5000000", 999_990..<n), ("bytes=-99999999", 0..<n),
                    ("bytes=\(n - 1)-\(n - 1)", (n - 1)..<n),
                ]
                for (header, range) in single {
                    let r = try await fetch(client, url, headers: [("Range", header)])
                    #expect(r.status == 206, "\(header)")
                    #expect(byteMismatch(r.body, file[range]) == nil, "\(header)")
                    #expect(r.headers["content-range"] == ["bytes \(range.lowerBound)-\(range.upperBound - 1)/\(n)"], "\(header)")
                    #expect(r.headers["content-length"] == [String(range.count)])
                }
                // Several ranges: multipart/byteranges, each part's bytes and Content-Range checked.
                let multi = try await fetch(client, url, headers: [("Range", "bytes=0-9, 100-199, -5")])
                #expect(multi.status == 206)
                #expect(multi.headers["content-range"].isEmpty)
                let type = try #require(multi.headers["content-type"].first)
                #expect(type.hasPrefix("multipart/byteranges; boundary="))
                let parts = parseMultipart(multi.body, boundary: String(type.split(separator: "=").last!))
                #expect(parts.map(\.range) == ["bytes 0-9/\(n)", "bytes 100-199/\(n)", "bytes \(n - 5)-\(n - 1)/\(n)"])
                #expect(parts.map(\.body) == [Array(file[0..<10]), Array(file[100..<200]), Array(file[(n - 5)..<n])])
                // Overlapping ranges are merged.
                let merged = try await fetch(client, url, headers: [("Range", "bytes=0-99,50-149")])
                #expect(merged.headers["content-range"] == ["bytes 0-149/\(n)"])
                #expect(byteMismatch(merged.body, file[0..<150]) == nil)
                // Unsatisfiable and malformed.
                for header in ["bytes=\(n)-", "bytes=5-1", "bytes=x-y", "bytes=" + Array(repeating: "1-2", count: 20).joined(separator: ",")] {
                    let r = try await fetch(client, url, headers: [("Range", header)])
                    #expect(r.status == 416, "\(header)")
                    #expect(r.headers["content-range"] == ["bytes */\(n)"], "\(header)")
                }
                // Another unit is ignored.
                let other = try await fetch(client, url, headers: [("Range", "items=0-1")])
                #expect(other.status == 200 && other.body == file)
                // If-Range: strong ETag honours the range, a weak or stale one sends everything.
                let etag = try #require(other.headers["etag"].first)
                let honoured = try await fetch(client, url, headers: [("Range", "bytes=0-9"), ("If-Range", etag)])
                #expect(honoured.status == 206 && honoured.body == Array(file[0..<10]))
                for stale in ["W/\(etag)", "\"stale\""] {
                    let ignored = try await fetch(client, url, headers: [("Range", "bytes=0-9"), ("If-Range", stale)])
                    #expect(ignored.status == 200 && ignored.body == file)
                }
                // HEAD with a range answers GET's headers.
                let head = try await fetch(client, url, method: .HEAD, headers: [("Range", "bytes=10-19")])
                #expect(head.status == 206 && head.body.isEmpty && head.headers["content-range"] == ["bytes 10-19/\(n)"])
            }
        }
    }

    @Test("conditional requests: 304 for matching validators, 412 for failed preconditions")
    func conditionals() async throws {
        try await LiveEdge.with(prepare: Self.prepare) { edge in
            let client = sharedClient
            let url = "\(edge.httpsBase)/v/movie/720p/0.ts"
            _ = try await fetch(client, url)
            let full = try await fetch(client, url)
            let etag = try #require(full.headers["etag"].first)
            let lastModified = try #require(full.headers["last-modified"].first)
            for headers in [[("If-None-Match", etag)], [("If-None-Match", "\"a\", \(etag)")], [("If-None-Match", "*")], [("If-Modified-Since", lastModified)]] {
                let r = try await fetch(client, url, headers: headers)
                #expect(r.status == 304, "\(headers)")
                #expect(r.body.isEmpty)
                #expect(r.headers["etag"] == [etag])
            }
            #expect(try await fetch(client, url, headers: [("If-None-Match", "\"other\"")]).status == 200)
            #expect(try await fetch(client, url, headers: [("If-Match", "\"other\"")]).status == 412)
            #expect(try await fetch(client, url, headers: [("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")]).status == 412)
        }
    }

    @Test("bad requests get a clear 4xx and the edge keeps serving")
    func badInput() async throws {
        try await LiveEdge.with(prepare: Self.prepare) { edge in
            let client = sharedClient
            let cases: [(String, HTTPMethod, [(String, String)], Int)] = [
                ("/v/movie/720p/%2e%2e/%2e%2e/etc/passwd", .GET, [], 400),
                ("/v/movie/720p%2F..%2F..%2Fsecret.ts", .GET, [], 400),
                ("/v/movie//etc/passwd.ts", .GET, [], 400),
                ("/v/movie/a\\b.ts", .GET, [], 400),
                ("/v/nothing/720p/0.ts", .GET, [], 404),
                ("/v/movie/720p/cover.png", .GET, [], 404),
                ("/v/movie", .GET, [], 404),
                ("/elsewhere", .GET, [], 404),
                ("/v/movie/720p/0.ts", .POST, [], 405),
                ("/v/movie/720p/0.ts", .DELETE, [], 405),
                ("/v/movie/720p/0.ts", .GET, [("Range", "bytes=9-3")], 416),
            ]
            for (path, method, headers, status) in cases {
                let r = try await fetch(client, edge.httpsBase + path, method: method, headers: headers)
                #expect(r.status == status, "\(method) \(path)")
                #expect(!r.body.isEmpty, "\(method) \(path) explains itself")
                #expect(r.headers["content-type"].first?.hasPrefix("text/plain") == true)
            }
            // A body on GET, sent by a real client over HTTP/1.1 and HTTP/2, on a miss and on a hit.
            for base in [edge.httpBase, edge.httpsBase] {
                for path in ["/v/movie/720p/0.ts", "/v/movie/720p/never.ts"] {
                    var request = HTTPClientRequest(url: base + path)
                    request.body = .bytes(ByteBuffer(string: "unexpected"))
                    let withBody = try await client.execute(request, timeout: .seconds(10))
                    #expect(withBody.status == .badRequest, "\(base)\(path)")
                }
            }
            // The raw `..` a client library would normalise, sent as is by curl.
            let raw = try await run("/usr/bin/curl", ["-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "\(edge.httpBase)/v/movie/../../etc/passwd"])
            #expect(raw.output == "400")
            // Oversized headers: refused without a 500, and the edge still answers.
            let big = try await run(
                "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: " + String(repeating: "a", count: 40_000), "\(edge.httpBase)/v/movie/720p/0.ts"])
            let code = big.output
            #expect(code.hasPrefix("4") || code == "000", "oversized headers got \(code)")
            #expect(try await fetch(client, "\(edge.httpsBase)/v/movie/720p/0.ts").status == 200)
            let health = try await fetch(client, "\(edge.httpsBase)/healthz")
            #expect(health.status == 200)
            #expect(String(decoding: health.body, as: UTF8.self).contains("\"status\":\"ok\""))
        }
    }

    @Test("curl --http2 negotiates h2 by ALPN and gets the same bytes; http/1.1 falls back")
    func curlClient() async throws {
        try await LiveEdge.with(prepare: Self.prepare) { edge in
            let out = NSTemporaryDirectory() + "curl-\(UUID())"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let h2 = try await run("/usr/bin/curl", ["-sk", "--http2", "-o", out, "-w", "%{http_version} %{http_code}", "\(edge.httpsBase)/v/movie/720p/0.ts"])
            #expect(h2.output == "2 200")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == Self.segment)
            let h1 = try await run("/usr/bin/curl", ["-sk", "--http1.1", "-r", "10-19", "-o", out, "-w", "%{http_version} %{http_code}", "\(edge.httpsBase)/v/movie/720p/0.ts"])
            #expect(h1.output == "1.1 206")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == Array(Self.segment[10..<20]))
        }
    }

    @Test("idle connections are closed after the idle timeout")
    func idleTimeout() async throws {
        try await LiveEdge.with(configure: { $0.idleTimeout = 1 }, prepare: Self.prepare) { edge in
            let closed = try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Result { try waitForServerClose(port: edge.http, limit: 10) }) }
            }
            #expect(closed, "the edge kept an idle connection open past 10 s")
        }
    }
}

/// Parts of a `multipart/byteranges` body: each Content-Range and its bytes.
func parseMultipart(_ body: [UInt8], boundary: String) -> [(range: String, body: [UInt8])] {
    let delimiter = Array("\r\n--\(boundary)".utf8)
    var parts: [(String, [UInt8])] = []
    var index = 0
    func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard needle.count <= body.count else { return nil }
        var i = start
        while i + needle.count <= body.count {
            if Array(body[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
    while let start = find(delimiter, from: index) {
        let afterDelimiter = start + delimiter.count
        if afterDelimiter + 2 <= body.count, body[afterDelimiter] == UInt8(ascii: "-") { break }
        guard let headerEnd = find(Array("\r\n\r\n".utf8), from: afterDelimiter) else { break }
        let headers = String(decoding: body[afterDelimiter..<headerEnd], as: UTF8.self)
        let range = headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-range:") }
            .map { String($0.dropFirst("content-range:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
        let dataStart = headerEnd + 4
        guard let next = find(delimiter, from: dataStart) else { break }
        parts.append((range, Array(body[dataStart..<next])))
        index = next
    }
    return parts
}

/// Connects, sends nothing, and reports whether the server closed the connection within `limit` seconds.
func waitForServerClose(port: Int, limit: Int) throws -> Bool {
    guard let fd = connectLoopback(port: port) else { return false }
    defer { close(fd) }
    setReceiveTimeout(fd, seconds: limit)
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, 0) == 0
}

@Suite("Live playlists")
struct LivePlaylistTests {
    @Test("a live playlist is fetched from upstream on every request and never kept")
    func liveIsNotKept() async throws {
        try await LiveEdge.with(prepare: { $0.write("live/720p/index.m3u8", Array("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n7.ts\n".utf8)) }) { edge in
            let url = "\(edge.httpBase)/v/live/720p/index.m3u8"
            let first = try await fetch(sharedClient, url)
            #expect(first.status == 200)
            #expect(first.headers["cache-control"] == ["public, max-age=2"])
            // The origin publishes the next segment; the edge must show it at once.
            edge.origin.write("live/720p/index.m3u8", Array("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n7.ts\n#EXTINF:4.0,\n8.ts\n".utf8))
            let second = try await fetch(sharedClient, url)
            #expect(String(decoding: second.body, as: UTF8.self).contains("8.ts"))
            let health = String(decoding: try await fetch(sharedClient, "\(edge.httpBase)/healthz").body, as: UTF8.self)
            #expect(health.contains("\"objects\":0"), "\(health)")
            #expect(health.contains("\"fills_in_flight\":0"), "no stray fill was started: \(health)")
        }
    }
}
