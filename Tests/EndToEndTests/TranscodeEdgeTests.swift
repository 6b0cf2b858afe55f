import DePINProtocol
import Crypto
import Foundation
import HLS
import TestSupport
import Testing

@Suite("on-demand renditions at a pc-class edge", .serialized)
struct TranscodeEdgeTests {
    /// Publishes an 8 s 720p clip as `id` under `dir/out`, its key URI pointing at `keyBase`.
    static func publish(_ dir: TemporaryDirectory, id: String, keyBase: String) async throws -> ContentManifest {
        if !FileManager.default.fileExists(atPath: dir.path + "/in.mp4") {
            try await TestClip.make(dir.path + "/in.mp4", width: 1280, height: 720, seconds: 8, keyint: 30)
        }
        let result = try await run(
            depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", id, "--key-uri", "\(keyBase)/\(id).key"])
        guard result.status == 0 else { throw ToolError("publish failed: \(result.output)") }
        return try PublishTests.manifest(dir.path + "/out/\(id)/manifest.json")
    }

    static func edge(_ dir: TemporaryDirectory, upstream: String, extra: [String] = []) async throws -> EdgeProcess {
        let cache = dir.path + "/cache-\(UInt32.random(in: 0...UInt32.max))"
        return try await EdgeProcess.start(arguments: [
            "--cache-dir", cache, "--upstream", upstream, "--class", "pc", "--transcode", "true", "--transcode-keys", dir.path + "/out",
        ] + extra)
    }

    /// GET with curl: status, body, headers.
    static func get(_ url: String, into file: String) async throws -> (status: Int, headers: String) {
        let result = try await run("/usr/bin/curl", ["-s", "-D", "-", "-o", file, "-w", "%{http_code}", url], mergeErrors: false)
        let lines = result.output.split(whereSeparator: \.isNewline)
        return (Int(lines.last ?? "") ?? 0, result.output)
    }

    static func decrypt(_ path: String, dir: TemporaryDirectory, id: String, sequence: Int) throws -> [UInt8] {
        let key = Array(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/\(id).key")))
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        return try SegmentCipher(key: key).decrypt(bytes, iv: SegmentCipher.iv(sequence: sequence))
    }

    @Test("ffmpeg plays every rendition of the master playlist through the edge, fetching the key over HTTP")
    func playThroughEdge() async throws {
        let dir = TemporaryDirectory("transcode-play")
        defer { dir.remove() }
        try await FolderServer.with(root: dir.path + "/out") { origin in
            _ = try await Self.publish(dir, id: "movie", keyBase: origin.base)
            let edge = try await Self.edge(dir, upstream: origin.base)
            defer { edge.stop() }
            let master = "\(edge.httpBase)/v/movie/master.m3u8"
            let play = try await run("/usr/bin/ffmpeg", ["-v", "error", "-i", master, "-map", "0:v", "-map", "0:a", "-f", "null", "-"])
            #expect(play.status == 0 && play.output.isEmpty, "ffmpeg: \(play.output)\n\(edge.log.suffix(2000))")
            // Each rendition: its size, the source's start time, every frame.
            for (name, width) in [("480p", 854), ("360p", 640)] {
                let frames = try await run(
                    "/usr/bin/ffprobe", ["-v", "error", "-select_streams", "v", "-count_frames", "-show_entries",
                                         "stream=width,nb_read_frames,start_time", "-of", "csv=p=0", "\(edge.httpBase)/v/movie/\(name)/index.m3u8"],
                    mergeErrors: false)
                let first = frames.output.split(whereSeparator: \.isNewline).first.map(String.init)
                #expect(first == "\(width),1.400000,240", "\(name): \(frames.output)")
            }
            let metrics = try await run("/usr/bin/curl", ["-s", "\(edge.httpBase)/metrics"])
            #expect(metrics.output.contains("depin_transcodes_total{result=\"made\"}"))
        }
    }

    @Test("requests for two renditions of one segment share one pass; a first viewer gets a streamed response")
    func sharedPass() async throws {
        let dir = TemporaryDirectory("transcode-shared")
        defer { dir.remove() }
        // A slow upstream keeps the job fetching its source while the second request arrives.
        try await FolderServer.with(root: dir.path + "/out", pause: .milliseconds(400)) { origin in
            _ = try await Self.publish(dir, id: "movie", keyBase: origin.base)
            let edge = try await Self.edge(dir, upstream: origin.base)
            defer { edge.stop() }
            async let first = Self.get("\(edge.httpBase)/v/movie/480p/1.ts", into: dir.path + "/480.ts")
            try await Task.sleep(for: .milliseconds(100))
            async let second = Self.get("\(edge.httpBase)/v/movie/360p/1.ts", into: dir.path + "/360.ts")
            let (a, b) = try await (first, second)
            #expect(a.status == 200 && b.status == 200)
            // Streamed while encoding: no length up front (chunked), unlike a cached object.
            #expect(a.headers.lowercased().contains("transfer-encoding: chunked"), "\(a.headers)")
            #expect(edge.log.contains("transcoded movie/source/1.ts to 480p, 360p") || edge.log.contains("transcoded movie/source/1.ts to 360p, 480p"),
                    "\(edge.log.suffix(1500))")
            let metrics = try await run("/usr/bin/curl", ["-s", "\(edge.httpBase)/metrics"])
            #expect(metrics.output.contains("depin_transcodes_total{result=\"made\"} 1"), "\(metrics.output)")
            // A second viewer is served from the cache, whole and with its length.
            let again = try await Self.get("\(edge.httpBase)/v/movie/480p/1.ts", into: dir.path + "/480-again.ts")
            #expect(again.status == 200 && again.headers.lowercased().contains("content-length:"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/480.ts")) == Data(contentsOf: URL(fileURLWithPath: dir.path + "/480-again.ts")))
        }
    }

    @Test("two edges make byte-identical renditions of the same segment")
    func identicalAcrossEdges() async throws {
        let dir = TemporaryDirectory("transcode-twice")
        defer { dir.remove() }
        _ = try await Self.publish(dir, id: "movie", keyBase: "http://keys.invalid")
        let one = try await Self.edge(dir, upstream: "file://\(dir.path)/out")
        defer { one.stop() }
        let two = try await Self.edge(dir, upstream: "file://\(dir.path)/out")
        defer { two.stop() }
        let a = try await Self.get("\(one.httpBase)/v/movie/360p/0.ts", into: dir.path + "/a.ts")
        let b = try await Self.get("\(two.httpBase)/v/movie/360p/0.ts", into: dir.path + "/b.ts")
        #expect(a.status == 200 && b.status == 200)
        let bytesA = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/a.ts"))
        let bytesB = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/b.ts"))
        #expect(bytesA.count > 100_000)
        #expect(SHA256.hash(data: bytesA) == SHA256.hash(data: bytesB), "\(bytesA.count) and \(bytesB.count) bytes")
    }

    @Test("truncated and bit-flipped sources get a clear 502 and the edge keeps serving")
    func damagedSources() async throws {
        let dir = TemporaryDirectory("transcode-damaged")
        defer { dir.remove() }
        let manifest = try await Self.publish(dir, id: "movie", keyBase: "http://keys.invalid")
        let key = Array(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/movie.key")))
        let cipher = try SegmentCipher(key: key)
        let plain = try Self.decrypt(dir.path + "/out/movie/source/1.ts", dir: dir, id: "movie", sequence: 1)
        // A hostile publisher: damaged plaintext, re-encrypted, with a manifest that vouches for it.
        var flipped = plain
        for i in stride(from: 400, to: flipped.count, by: 97) { flipped[i] ^= UInt8(truncatingIfNeeded: i) | 1 }
        var patched = manifest
        for (index, damaged) in [(1, flipped)] {
            let ciphertext = try cipher.encrypt(damaged, iv: SegmentCipher.iv(sequence: index))
            try Data(ciphertext).write(to: URL(fileURLWithPath: dir.path + "/out/movie/source/\(index).ts"))
            patched.segments[index].length = ciphertext.count
            patched.segments[index].sha256 = SHA256.hash(data: ciphertext).map { String(format: "%02x", $0) }.joined()
        }
        // Segment 0 truncated to a few packets: unreadable as video.
        let truncated = try cipher.encrypt(Array(plain.prefix(188 * 3)), iv: SegmentCipher.iv(sequence: 0))
        try Data(truncated).write(to: URL(fileURLWithPath: dir.path + "/out/movie/source/0.ts"))
        patched.segments[0].length = truncated.count
        patched.segments[0].sha256 = SHA256.hash(data: truncated).map { String(format: "%02x", $0) }.joined()
        try JSONEncoder().encode(patched).write(to: URL(fileURLWithPath: dir.path + "/out/movie/manifest.json"))

        let edge = try await Self.edge(dir, upstream: "file://\(dir.path)/out")
        defer { edge.stop() }
        let broken = try await Self.get("\(edge.httpBase)/v/movie/360p/0.ts", into: dir.path + "/0.txt")
        #expect(broken.status == 502)
        let message = try String(contentsOfFile: dir.path + "/0.txt", encoding: .utf8)
        #expect(message.contains("transcode of movie/360p/0.ts failed: the source segment cannot be transcoded"), "\(message)")
        // Bit flips: FFmpeg conceals what it can (a 200 of a damaged picture) or refuses (a 502);
        // either way the worker, not the edge, took the hit.
        let flippedAnswer = try await Self.get("\(edge.httpBase)/v/movie/360p/1.ts", into: dir.path + "/1.ts")
        #expect([200, 502].contains(flippedAnswer.status))
        // The edge is up and still serves everything else.
        let healthy = try await Self.get("\(edge.httpBase)/v/movie/480p/1.ts", into: dir.path + "/480-1.ts")
        #expect(healthy.status == 200 || healthy.status == 502)
        for path in ["master.m3u8", "360p/index.m3u8", "source/1.ts"] {
            let intact = try await Self.get("\(edge.httpBase)/v/movie/\(path)", into: dir.path + "/intact")
            #expect(intact.status == 200, "\(path)")
        }
        let health = try await Self.get("\(edge.httpBase)/healthz", into: dir.path + "/health.json")
        #expect(health.status == 200)
        #expect(edge.process.isRunning)
    }

    @Test("a source that does not match the manifest is refused; a worker past its time or memory limit is stopped")
    func refusals() async throws {
        let dir = TemporaryDirectory("transcode-refuse")
        defer { dir.remove() }
        _ = try await Self.publish(dir, id: "movie", keyBase: "http://keys.invalid")
        // Bytes swapped behind the manifest's back (a dishonest host).
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/movie/source/1.ts")))
        bytes[1000] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: dir.path + "/out/movie/source/1.ts"))
        let edge = try await Self.edge(dir, upstream: "file://\(dir.path)/out", extra: ["--transcode-timeout", "0.05"])
        defer { edge.stop() }
        let mismatch = try await Self.get("\(edge.httpBase)/v/movie/360p/1.ts", into: dir.path + "/1.txt")
        #expect(mismatch.status == 502)
        #expect(try String(contentsOfFile: dir.path + "/1.txt", encoding: .utf8).contains("does not match the manifest"))
        let slow = try await Self.get("\(edge.httpBase)/v/movie/360p/0.ts", into: dir.path + "/0.txt")
        #expect(slow.status == 502)
        #expect(try String(contentsOfFile: dir.path + "/0.txt", encoding: .utf8).contains("took longer than"))
        // Not in the ladder: 404, not a transcode.
        let taller = try await Self.get("\(edge.httpBase)/v/movie/1080p/0.ts", into: dir.path + "/1080.txt")
        #expect(taller.status == 404)
        #expect(edge.process.isRunning)

        // A worker whose memory limit is too small for the job fails alone, with the limit named.
        let small = try await Self.edge(dir, upstream: "file://\(dir.path)/out", extra: ["--transcode-memory", "256MiB"])
        defer { small.stop() }
        let starved = try await Self.get("\(small.httpBase)/v/movie/480p/0.ts", into: dir.path + "/starved.txt")
        #expect(starved.status == 502)
        #expect(try String(contentsOfFile: dir.path + "/starved.txt", encoding: .utf8).contains("limit is 256 MiB"))
        let still = try await Self.get("\(small.httpBase)/v/movie/source/0.ts", into: dir.path + "/s0.ts")
        #expect(still.status == 200 && small.process.isRunning)
    }
}
