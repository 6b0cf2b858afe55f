import DePINProtocol
import Foundation
import HLS
import Media
import Publishing
import Synchronization
import TestSupport
import Testing

/// Keeps every file a live packager hands over, in order (what a hosting edge would receive),
/// and how each part grew.
final class CapturedFiles: LiveDestination {
    private let files = Mutex<[(path: String, bytes: [UInt8])]>([])
    /// Per part: the bytes appended as it grew, and in how many pieces.
    private let growth = Mutex<[String: (bytes: [UInt8], pieces: Int)]>([:])

    var all: [(path: String, bytes: [UInt8])] { files.withLock { $0 } }
    var grown: [String: (bytes: [UInt8], pieces: Int)] { growth.withLock { $0 } }

    func put(_ path: String, _ bytes: [UInt8], kind: LiveFileKind, entered: Date?) { files.withLock { $0.append((path, bytes)) } }
    func beginPart(_ path: String, entered: Date?) { growth.withLock { $0[path] = ([], 0) } }
    func appendPart(_ path: String, _ bytes: [UInt8]) {
        growth.withLock { grown in
            grown[path]?.bytes += bytes
            grown[path]?.pieces += 1
        }
    }
    func endPart(_ path: String, _ whole: [UInt8], entered: Date?) { put(path, whole, kind: .part, entered: entered) }
    func delete(_ path: String) {}
    func drain() async {}

    /// Every version of `path`, in the order written.
    func versions(_ path: String) -> [String] { all.filter { $0.path == path }.map { String(decoding: $0.bytes, as: UTF8.self) } }

    /// The last bytes written as `path`.
    func last(_ path: String) -> [UInt8]? { all.last { $0.path == path }?.bytes }
}

/// Runs a whole live session over `input` (a file, read as fast as it decodes) into a capture
/// and a folder, and returns both with the recording's manifest.
func package(_ input: String, dir: TemporaryDirectory, id: String = "live1") throws -> (CapturedFiles, LiveFolder, ContentManifest?, [UInt8]) {
    let key = SegmentCipher.makeKey()
    let capture = CapturedFiles()
    let folder = try LiveFolder(root: dir.path + "/out/" + id)
    let packager = try LivePackager(
        options: .init(id: id, key: key, keyURI: "../../\(id).key", windowSegments: 4, settings: LiveSettings(encoder: EncoderSettings(preset: "ultrafast", threads: 1))),
        destinations: [capture, folder])
    let session = try LiveSession(source: .url(input, realtime: false), packager: packager, grace: 1) { _ in }
    let manifest = try session.run()
    dir.write("out/\(id).key", key)
    return (capture, folder, manifest, key)
}

/// Checks every RFC 8216bis rule the issue names on every version of one rung's playlist.
func checkPlaylistVersions(_ versions: [String], rung: String) throws {
    #expect(!versions.isEmpty, "\(rung) has playlists")
    var lastSequence = -1
    var lastPart: (Int, Int) = (-1, -1)
    for (number, text) in versions.enumerated() {
        let playlist = try LivePlaylist.parse(text)
        #expect(playlist.partTarget == 0.5 && playlist.targetDuration == 2, "\(rung) v\(number)")
        #expect(playlist.mediaSequence >= lastSequence, "\(rung) v\(number): media sequence went backwards")
        lastSequence = playlist.mediaSequence
        let allParts = playlist.segments.flatMap { segment in segment.parts.map { (segment.sequence, $0) } } + playlist.pendingParts.map { (playlist.pendingSequence, $0) }
        for (sequence, part) in allParts {
            #expect(part.duration <= playlist.partTarget + 0.0005, "\(rung) v\(number): part \(part.uri) lasts \(part.duration) s")
            _ = sequence
        }
        for segment in playlist.segments {
            #expect(segment.duration <= Double(playlist.targetDuration) + 0.0005, "\(rung) v\(number): segment \(segment.sequence) lasts \(segment.duration) s")
            if !segment.parts.isEmpty {
                let sum = segment.parts.map(\.duration).reduce(0, +)
                #expect(abs(sum - segment.duration) <= 0.0005 * Double(segment.parts.count + 1), "\(rung) v\(number): parts of \(segment.sequence) add up to \(sum), not \(segment.duration)")
                #expect(segment.parts.first?.independent == true, "\(rung): segment \(segment.sequence) begins with an independent part")
                for part in segment.parts.dropFirst().dropLast() where !part.independent {
                    #expect(part.duration >= 0.85 * playlist.partTarget, "\(rung): part \(part.uri) is under 85% of the target")
                }
            }
        }
        #expect(zip(playlist.segments, playlist.segments.dropFirst()).allSatisfy { $0.programDateTime < $1.programDateTime }, "\(rung) v\(number): dates increase")
        if let last = playlist.lastPart {
            #expect(last.sequence > lastPart.0 || (last.sequence == lastPart.0 && last.part >= lastPart.1), "\(rung) v\(number): part numbering went backwards")
            lastPart = (last.sequence, last.part)
        }
        if playlist.endList {
            #expect(playlist.preloadHint == nil && playlist.reports.isEmpty)
        } else {
            #expect(playlist.preloadHint != nil, "\(rung) v\(number) hints the next part")
            #expect(playlist.key?.method == .aes128)
        }
    }
    #expect(try LivePlaylist.parse(versions.last!).endList, "\(rung)'s last playlist ends the list")
}

@Suite("Live packaging: LL-HLS from one decode", .serialized)
struct LivePackagingTests {
    @Test("every playlist version keeps the rules; every rung is cut at the same timestamps; parts and segments decrypt, segments are their parts, and each begins on a keyframe")
    func rules() async throws {
        let dir = TemporaryDirectory("live-rules")
        defer { dir.remove() }
        // Keyframes every 3 s in the input: the 2 s segments' keyframes must be the ingest's own.
        try await TestClip.make(dir.path + "/in.mp4", width: 854, height: 480, seconds: 9, keyint: 90)
        let (capture, _, manifest, key) = try package(dir.path + "/in.mp4", dir: dir)
        let master = try #require(capture.last("master.m3u8"))
        guard case .master(let parsed) = try Playlist.parse(String(decoding: master, as: UTF8.self)) else { Issue.record("master"); return }
        #expect(parsed.variants.map(\.uri) == ["source/index.m3u8", "360p/index.m3u8"])
        #expect(parsed.variants.first?.width == 854 && parsed.variants.first?.height == 480)

        var boundaries: [String: [Double]] = [:]
        for rung in ["source", "360p"] {
            let versions = capture.versions("\(rung)/index.m3u8")
            try checkPlaylistVersions(versions, rung: rung)
            // Before the end the playlist reports the other rung.
            let live = try LivePlaylist.parse(versions[versions.count / 2])
            #expect(live.reports.map(\.uri) == [rung == "source" ? "../360p/index.m3u8" : "../source/index.m3u8"])
            // Every segment ever listed, by media sequence.
            var durations: [Int: Double] = [:]
            for text in versions { for segment in try LivePlaylist.parse(text).segments { durations[segment.sequence] = segment.duration } }
            boundaries[rung] = durations.keys.sorted().map { durations[$0]! }
        }
        #expect(boundaries["source"] == boundaries["360p"], "both rungs have the same segments")
        #expect((boundaries["source"] ?? []).count == 5, "9 s make four 2 s segments and a last one")

        // Every part went out as it was made, in whole AES blocks, and what went out is the part.
        let parts = capture.all.filter { $0.path.split(separator: ".").count == 3 }
        #expect(parts.count >= 36, "9 s make 18 parts per rung")
        for part in parts {
            let grown = capture.grown[part.path]
            #expect(grown?.bytes == part.bytes, "\(part.path) grew into itself")
            #expect((grown?.pieces ?? 0) >= 2, "\(part.path) went out in pieces as it was made")
        }

        let cipher = try SegmentCipher(key: key)
        for rung in ["source", "360p"] {
            for sequence in 0..<5 {
                let segment = try cipher.decrypt(try #require(capture.last("\(rung)/\(sequence).ts")), iv: SegmentCipher.iv(sequence: sequence))
                var joined: [UInt8] = []
                var part = 0
                while let bytes = capture.last("\(rung)/\(sequence).\(part).ts") {
                    let plain = try cipher.decrypt(bytes, iv: SegmentCipher.iv(sequence: sequence))
                    #expect(plain.count % 188 == 0 && plain.first == 0x47, "\(rung) \(sequence).\(part) is whole MPEG-TS packets")
                    joined += plain
                    part += 1
                }
                #expect(byteMismatch(joined, segment) == nil, "\(rung) segment \(sequence) is its \(part) parts")
                dir.write("check-\(rung)-\(sequence).ts", segment)
                let frames = try await Probe.frames(dir.path + "/check-\(rung)-\(sequence).ts")
                #expect(frames.first?.key == true, "\(rung) segment \(sequence) begins with a keyframe")
                #expect(frames.dropFirst().allSatisfy { !$0.key }, "\(rung) segment \(sequence) has no other keyframe")
                let firstPart = try cipher.decrypt(try #require(capture.last("\(rung)/\(sequence).0.ts")), iv: SegmentCipher.iv(sequence: sequence))
                dir.write("check-part-\(rung)-\(sequence).ts", firstPart)
                #expect(try await Probe.frames(dir.path + "/check-part-\(rung)-\(sequence).ts").first?.key == true, "part 0 plays on its own")
            }
        }

        // The recording is a VOD title ffmpeg plays whole with the key.
        let recording = try #require(manifest)
        try recording.validate()
        #expect(recording.segments.count == 5 && recording.ladder.map(\.name) == ["360p"])
        #expect(abs(recording.segments.map(\.duration).reduce(0, +) - 9) < 0.05)
        try LiveRecording.write(manifest: recording, keyURI: "../../live1.key", into: try LiveFolder(root: dir.path + "/out/live1"))
        let played = try await run("/usr/bin/ffmpeg", ["-v", "error", "-allowed_extensions", "ALL", "-i", dir.path + "/out/live1/master.m3u8", "-map", "0:v:0", "-map", "0:a:0", "-f", "null", "-"])
        #expect(played.status == 0, "ffmpeg decrypts and plays the recording: \(played.output)")
        let probed = try await Probe.json(dir.path + "/out/live1/master.m3u8", ["-allowed_extensions", "ALL", "-show_format"])
        let seconds = Double(((probed["format"] as? [String: Any])?["duration"] as? String) ?? "") ?? 0
        #expect(abs(seconds - 9) < 0.3, "the recording lasts the stream's 9 s, not \(seconds)")
    }

    @Test("garbage bytes, a resolution change, a codec change and timestamps running backwards never crash the ingest or break a playlist")
    func hostileInput() async throws {
        let dir = TemporaryDirectory("live-hostile")
        defer { dir.remove() }
        // Three MPEG-TS pieces simply concatenated: each restarts its clock (timestamps jump
        // back), the second is another size, the third another codec on the same PID; garbage between.
        try await TestClip.make(dir.path + "/a.ts", width: 640, height: 360, seconds: 4, keyint: 30)
        try await TestClip.make(dir.path + "/b.ts", width: 320, height: 240, seconds: 4, keyint: 30)
        try await TestClip.make(dir.path + "/c.ts", width: 640, height: 360, seconds: 2, keyint: 30, video: "mpeg2video")
        var bytes: [UInt8] = []
        for name in ["a.ts", "b.ts", "c.ts"] {
            bytes += [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + name)))
            bytes += patternBytes(188 * 50 + 7, seed: 3)
        }
        dir.write("hostile.ts", bytes)
        let (capture, _, manifest, _) = try package(dir.path + "/hostile.ts", dir: dir, id: "hostile")
        for rung in ["source", "240p"] where !capture.versions("\(rung)/index.m3u8").isEmpty {
            try checkPlaylistVersions(capture.versions("\(rung)/index.m3u8"), rung: rung)
        }
        #expect(!capture.versions("source/index.m3u8").isEmpty)
        let recording = try #require(manifest)
        try recording.validate()
        #expect(recording.source.width == 640 && recording.source.height == 360, "the ladder stays the first picture's")
        #expect(recording.segments.map(\.duration).reduce(0, +) > 7.5, "the 4 s at the other size are kept, rescaled")

        // Nothing but garbage: the session ends, nothing is published.
        dir.write("garbage.ts", patternBytes(200_000, seed: 9))
        let (nothing, _, none, _) = try package(dir.path + "/garbage.ts", dir: dir, id: "garbage")
        #expect(none == nil && nothing.all.isEmpty)
    }
}
