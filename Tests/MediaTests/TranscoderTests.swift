import DePINProtocol
import Foundation
import Media
import TestSupport
import Testing

@Suite("Transcoder: one pass, every rendition, aligned to the source")
struct TranscoderTests {
    static let renditions = [
        Rendition(name: "480p", width: 854, height: 480, videoBitrate: 1_400_000),
        Rendition(name: "360p", width: 640, height: 360, videoBitrate: 800_000),
    ]

    /// A 4 s 720p source segment made by the segmenter, written to `dir/source.ts`.
    static func sourceSegment(_ dir: TemporaryDirectory) async throws -> [UInt8] {
        try await TestClip.make(dir.path + "/in.mp4", width: 1280, height: 720, seconds: 4, keyint: 120)
        var segments: [MediaSegment] = []
        _ = try Segmenter.segment(path: dir.path + "/in.mp4", options: SegmentingOptions(targetDuration: 4)) { segments.append($0) }
        #expect(segments.count == 1)
        dir.write("source.ts", segments[0].bytes)
        return segments[0].bytes
    }

    static func transcode(_ source: [UInt8], _ renditions: [Rendition] = renditions) throws -> [[UInt8]] {
        var outputs = Array(repeating: [UInt8](), count: renditions.count)
        try Transcoder.transcode(source: source, renditions: renditions, settings: EncoderSettings()) { index, bytes in
            outputs[index].append(contentsOf: bytes)
        }
        return outputs
    }

    @Test("each rendition has its size, its bitrate, the source's frames and timestamps, a keyframe first, and a PSNR over 35 dB")
    func ladder() async throws {
        let dir = TemporaryDirectory("transcode-ladder")
        defer { dir.remove() }
        let source = try await Self.sourceSegment(dir)
        let outputs = try Self.transcode(source)
        let sourceFrames = try await Probe.frames(dir.path + "/source.ts")
        for (rendition, bytes) in zip(Self.renditions, outputs) {
            let path = dir.path + "/\(rendition.name).ts"
            dir.write("\(rendition.name).ts", bytes)
            let video = try await Probe.video(path)
            let streams = try await Probe.json(path)["streams"] as? [[String: Any]] ?? []
            #expect(streams.compactMap { $0["codec_name"] as? String }.sorted() == ["aac", "h264"], "\(rendition.name) carries the source's audio")
            #expect(video["width"] as? Int == rendition.width && video["height"] as? Int == rendition.height)
            let frames = try await Probe.frames(path)
            #expect(frames.count == sourceFrames.count)
            #expect(frames.first?.key == true && frames.first?.type == "I")
            #expect(frames.first?.time == sourceFrames.first?.time, "first frame at \(frames.first?.time ?? -1), source at \(sourceFrames.first?.time ?? -1)")
            // The whole file (video, the copied audio, MPEG-TS overhead) against the video target:
            // x264's ABR over one 4 s segment lands within 25% of its target.
            let bitrate = Double(bytes.count * 8) / 4.0
            let ratio = bitrate / Double(rendition.videoBitrate)
            #expect(ratio > 0.75 && ratio < 1.25, "\(rendition.name): \(Int(bitrate)) bit/s for a \(rendition.videoBitrate) target")
            // 35 dB: visually clean for this content at these bitrates; a wrong size, a shifted
            // frame or broken colour planes all measure under 20 dB.
            let psnr = try await Probe.psnr(path, reference: dir.path + "/source.ts", width: rendition.width, height: rendition.height)
            #expect(psnr > 35, "\(rendition.name): PSNR \(psnr) dB")
        }
    }

    @Test("truncated and junk sources fail with a clear error or decode what is there")
    func damagedSource() async throws {
        let dir = TemporaryDirectory("transcode-damaged")
        defer { dir.remove() }
        let source = try await Self.sourceSegment(dir)
        let half = try Self.transcode(Array(source.prefix(source.count / 2)), [Self.renditions[1]])
        #expect(half[0].count > 1000)  // the first half's pictures, re-encoded
        for bad in [Array(source.prefix(300)), patternBytes(200_000), []] {
            do {
                _ = try Self.transcode(bad, [Self.renditions[1]])
                Issue.record("a \(bad.count)-byte junk source was transcoded")
            } catch let error as MediaError {
                #expect(error.isInputProblem, "\(error)")
            }
        }
    }

    @Test("impossible requests are refused before any work")
    func settings() async throws {
        let dir = TemporaryDirectory("transcode-settings")
        defer { dir.remove() }
        let source = try await Self.sourceSegment(dir)
        let cases: [([Rendition], EncoderSettings, String)] = [
            ([Rendition(name: "1080p", width: 1920, height: 1080, videoBitrate: 5_000_000)], EncoderSettings(), "taller than"),
            ([Rendition(name: "odd", width: 641, height: 360, videoBitrate: 800_000)], EncoderSettings(), "even sizes"),
            ([Self.renditions[1]], EncoderSettings(preset: "ludicrous"), "preset"),
            ([Self.renditions[1]], EncoderSettings(threads: 0), "threads"),
            ([], EncoderSettings(), "1 to 8 renditions"),
        ]
        for (renditions, settings, words) in cases {
            do {
                try Transcoder.transcode(source: source, renditions: renditions, settings: settings) { _, _ in }
                Issue.record("accepted \(renditions.map(\.name)) \(settings)")
            } catch let error as MediaError {
                #expect(error.message.contains(words), "\(error)")
                #expect(!error.isInputProblem)
            }
        }
    }

    @Test("the standard ladder never goes above the source")
    func ladderShape() {
        #expect(Ladder.derive(sourceWidth: 1920, sourceHeight: 1080).map(\.name) == ["720p", "480p", "360p"])
        #expect(Ladder.derive(sourceWidth: 1280, sourceHeight: 720).map { "\($0.width)x\($0.height)" } == ["854x480", "640x360"])
        #expect(Ladder.derive(sourceWidth: 640, sourceHeight: 360).isEmpty)
        // Portrait: every step shorter than 1920 lines, widths keeping 9:16 on even numbers.
        #expect(Ladder.derive(sourceWidth: 1080, sourceHeight: 1920).map { "\($0.width)x\($0.height)" } == ["608x1080", "406x720", "270x480", "202x360"])
    }
}
