import DePINProtocol
import Foundation
import Media
import TestSupport
import Testing

@Suite("Segmenter: keyframe-aligned MPEG-TS segments from any input")
struct SegmenterTests {
    /// Segments `input` and writes each segment to `dir/seg{n}.ts`; returns the result and segments.
    static func segment(_ input: String, into dir: TemporaryDirectory, target: Double = 4) throws -> (SegmentingResult, [MediaSegment]) {
        var segments: [MediaSegment] = []
        let result = try Segmenter.segment(path: input, options: SegmentingOptions(targetDuration: target)) { segments.append($0) }
        for segment in segments { dir.write("seg\(segment.index).ts", segment.bytes) }
        return (result, segments)
    }

    /// Every segment starts on a keyframe and all frames are there.
    static func checkKeyframes(_ dir: TemporaryDirectory, count: Int) async throws -> Int {
        var frames = 0
        for index in 0..<count {
            let list = try await Probe.frames(dir.path + "/seg\(index).ts")
            #expect(list.first?.key == true, "segment \(index) starts with \(list.first.map { $0.type } ?? "nothing")")
            frames += list.count
        }
        return frames
    }

    @Test("an H.264/AAC mp4 is copied (not re-encoded) into segments of the target duration")
    func remuxMP4() async throws {
        let dir = TemporaryDirectory("segment-mp4")
        defer { dir.remove() }
        try await TestClip.make(dir.path + "/in.mp4", seconds: 10, keyint: 30)
        let (result, segments) = try Self.segment(dir.path + "/in.mp4", into: dir)
        #expect(!result.videoReencoded && !result.audioReencoded)
        #expect(segments.map(\.duration).map { ($0 * 1000).rounded() / 1000 } == [4, 4, 2])
        #expect(result.width == 640 && result.height == 360 && result.codecs.hasPrefix("avc1.64") && result.codecs.hasSuffix(",mp4a.40.2"))
        #expect(try await Self.checkKeyframes(dir, count: segments.count) == 300)
    }

    @Test("sparse keyframes: segments end on the first keyframe after the target")
    func sparseKeyframes() async throws {
        let dir = TemporaryDirectory("segment-sparse")
        defer { dir.remove() }
        try await TestClip.make(dir.path + "/in.ts", seconds: 10, keyint: 75, extra: ["-sc_threshold", "0"])
        let (result, segments) = try Self.segment(dir.path + "/in.ts", into: dir)
        #expect(!result.videoReencoded)
        #expect(segments.map(\.duration).map { ($0 * 1000).rounded() / 1000 } == [5, 5])
        #expect(try await Self.checkKeyframes(dir, count: segments.count) == 300)
    }

    @Test("mpeg4 video with PCM audio in mov is re-encoded to H.264/AAC with a keyframe at every boundary")
    func reencodeMOV() async throws {
        let dir = TemporaryDirectory("segment-mov")
        defer { dir.remove() }
        try await TestClip.make(dir.path + "/in.mov", rate: 25, seconds: 9, keyint: 250, video: "mpeg4", audio: "pcm_s16le")
        let (result, segments) = try Self.segment(dir.path + "/in.mov", into: dir)
        #expect(result.videoReencoded && result.audioReencoded)
        #expect(segments.map(\.duration).map { ($0 * 1000).rounded() / 1000 } == [4, 4, 1])
        #expect(try await Self.checkKeyframes(dir, count: segments.count) == 225)
        let streams = try await Probe.json(dir.path + "/seg0.ts")["streams"] as? [[String: Any]] ?? []
        #expect(streams.compactMap { $0["codec_name"] as? String }.sorted() == ["aac", "h264"])
    }

    @Test("Opus audio in mkv is re-encoded to AAC while H.264 video is copied")
    func mkvOpus() async throws {
        let dir = TemporaryDirectory("segment-mkv")
        defer { dir.remove() }
        try await TestClip.make(dir.path + "/in.mkv", seconds: 6, keyint: 60, audio: "libopus")
        let (result, segments) = try Self.segment(dir.path + "/in.mkv", into: dir, target: 2)
        #expect(!result.videoReencoded && result.audioReencoded)
        #expect(segments.map(\.duration).map { ($0 * 1000).rounded() / 1000 } == [2, 2, 2])
    }

    @Test("an unreadable input is refused with its name and FFmpeg's reason")
    func unreadable() async throws {
        let dir = TemporaryDirectory("segment-bad")
        defer { dir.remove() }
        dir.write("junk.mp4", patternBytes(50_000))
        do {
            _ = try Self.segment(dir.path + "/junk.mp4", into: dir)
            Issue.record("junk was accepted")
        } catch let error as MediaError {
            #expect(error.isInputProblem)
            #expect(error.message.contains(dir.path + "/junk.mp4"))
            #expect(error.message.contains("Invalid data"), "\(error)")
        }
        do {
            _ = try Self.segment(dir.path + "/missing.mp4", into: dir)
            Issue.record("a missing file was accepted")
        } catch let error as MediaError {
            #expect(error.message.contains("No such file"), "\(error)")
        }
    }

    @Test("an input without video is refused")
    func audioOnly() async throws {
        let dir = TemporaryDirectory("segment-audio")
        defer { dir.remove() }
        let made = try await run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=duration=2", dir.path + "/tone.wav"])
        #expect(made.status == 0)
        do {
            _ = try Self.segment(dir.path + "/tone.wav", into: dir)
            Issue.record("audio-only input was accepted")
        } catch let error as MediaError {
            #expect(error.message.contains("no video stream"), "\(error)")
        }
    }
}
