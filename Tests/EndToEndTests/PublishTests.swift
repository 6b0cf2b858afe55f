import Crypto
import DePINProtocol
import Foundation
import TestSupport
import Testing

@Suite("depin publish", .serialized)
struct PublishTests {
    static func manifest(_ path: String) throws -> ContentManifest {
        try JSONDecoder().decode(ContentManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test("publishes an mp4 as encrypted HLS that ffmpeg plays with the key: every frame, no errors")
    func publishAndPlay() async throws {
        let dir = TemporaryDirectory("publish")
        defer { dir.remove() }
        try await TestClip.make(dir.path + "/in.mp4", width: 1280, height: 720, seconds: 10, keyint: 30)
        let result = try await run(depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "clip"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("segment 0: 4.000 s"), "progress lines: \(result.output)")
        let title = dir.path + "/out/clip"
        let manifest = try Self.manifest(title + "/manifest.json")
        try manifest.validate()
        #expect(manifest.segments.map(\.duration) == [4, 4, 2])
        #expect(manifest.ladder.map(\.name) == ["480p", "360p"])
        #expect(manifest.source.video == "copied")
        for segment in manifest.segments {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: title + "/source/\(segment.index).ts")))
            #expect(bytes.count == segment.length)
            #expect(SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() == segment.sha256)
            #expect(MerkleTree(data: bytes).root.map { String(format: "%02x", $0) }.joined() == segment.merkleRoot)
        }
        // The key is apart from the content and private.
        let key = try FileManager.default.attributesOfItem(atPath: dir.path + "/out/clip.key")
        #expect(key[.size] as? Int == 16)
        #expect((key[.posixPermissions] as? Int).map { $0 & 0o077 } == 0)
        #expect(!FileManager.default.fileExists(atPath: title + "/clip.key"))
        let master = try String(contentsOfFile: title + "/master.m3u8", encoding: .utf8)
        #expect(master.contains("RESOLUTION=1280x720") && master.contains("RESOLUTION=854x480") && master.contains("RESOLUTION=640x360"))
        #expect(!master.contains("x1080"))

        let play = try await run(
            "/usr/bin/ffmpeg", ["-v", "error", "-allowed_extensions", "ALL", "-i", title + "/source/index.m3u8", "-f", "framecrc", "-"],
            mergeErrors: false)
        let errors = try await run("/usr/bin/ffmpeg", ["-v", "error", "-allowed_extensions", "ALL", "-i", title + "/source/index.m3u8", "-f", "null", "-"])
        #expect(play.status == 0 && errors.status == 0)
        #expect(errors.output.isEmpty, "ffmpeg reported: \(errors.output)")
        let videoFrames = play.output.split(separator: "\n").filter { $0.hasPrefix("0,") }.count
        #expect(videoFrames == 300)
    }

    @Test("re-encodes mov (mpeg4 + PCM) and mpegts inputs; the result plays")
    func otherContainers() async throws {
        let dir = TemporaryDirectory("publish-other")
        defer { dir.remove() }
        try await TestClip.make(dir.path + "/in.mov", rate: 25, seconds: 5, keyint: 250, video: "mpeg4", audio: "pcm_s16le")
        try await TestClip.make(dir.path + "/in.ts", seconds: 5, keyint: 60)
        for (input, id, video) in [("in.mov", "mov", "re-encoded"), ("in.ts", "ts", "copied")] {
            let result = try await run(depinBinary, ["publish", dir.path + "/" + input, "--out", dir.path + "/out", "--id", id, "--segment-seconds", "2"])
            #expect(result.status == 0, "\(result.output)")
            let manifest = try Self.manifest(dir.path + "/out/\(id)/manifest.json")
            #expect(manifest.source.video == video)
            #expect(manifest.segments.map(\.duration) == [2, 2, 1])
            let play = try await run(
                "/usr/bin/ffmpeg", ["-v", "error", "-allowed_extensions", "ALL", "-i", dir.path + "/out/\(id)/source/index.m3u8", "-f", "null", "-"])
            #expect(play.status == 0 && play.output.isEmpty, "\(play.output)")
        }
    }

    @Test("an unreadable input fails with the file's name and FFmpeg's reason, and leaves nothing behind")
    func unreadable() async throws {
        let dir = TemporaryDirectory("publish-bad")
        defer { dir.remove() }
        dir.write("junk.mkv", patternBytes(100_000))
        _ = try await run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=duration=1", dir.path + "/tone.wav"])
        let cases = [
            ("junk.mkv", "Invalid data found when processing input"),
            ("missing.mp4", "no such readable file"),
            ("tone.wav", "no video stream"),
        ]
        for (input, reason) in cases {
            let result = try await run(depinBinary, ["publish", dir.path + "/" + input, "--out", dir.path + "/out", "--id", "x"])
            #expect(result.status == 1)
            #expect(result.output.contains(dir.path + "/" + input) && result.output.contains(reason), "\(result.output)")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/out")) ?? []
            #expect(left.isEmpty, "left behind: \(left)")
        }
        let badID = try await run(depinBinary, ["publish", dir.path + "/junk.mkv", "--out", dir.path + "/out", "--id", "../up"])
        #expect(badID.status != 0 && badID.output.contains("content id"))
    }

    @Test("an existing title is never overwritten")
    func noOverwrite() async throws {
        let dir = TemporaryDirectory("publish-twice")
        defer { dir.remove() }
        try await TestClip.make(dir.path + "/in.mp4", seconds: 3, keyint: 30)
        let first = try await run(depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "same"])
        #expect(first.status == 0)
        let key = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/same.key"))
        let second = try await run(depinBinary, ["publish", dir.path + "/in.mp4", "--out", dir.path + "/out", "--id", "same"])
        #expect(second.status == 1 && second.output.contains("already exists"), "\(second.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/same.key")) == key)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/out").sorted() == ["same", "same.key"])
    }
}
