import CFFmpeg
import DePINProtocol
import Foundation

/// Makes renditions of one source segment in one pass: decode once, scale once per distinct
/// size, encode each rendition with libx264, copy the AAC audio, mux each to MPEG-TS. Each size
/// is scaled and encoded on a thread of its own while the next pictures are decoded.
///
/// Every output keeps the source segment's timestamps (same 90 kHz clock, same first frame, a
/// keyframe first), so a player can switch renditions at any segment boundary. Output bytes are
/// handed to `sink` as they are muxed (the first pictures at once, then in buffer-sized pieces),
/// so a viewer can be served
/// while the rest of the segment is still being encoded.
public enum Transcoder {
    /// The largest source segment accepted (a 4 s segment at 100 Mbit/s is 50 MB).
    public static let maxSourceBytes = 64 * 1024 * 1024

    /// - Parameters:
    ///   - source: one MPEG-TS (or any container FFmpeg reads) segment holding H.264 and
    ///     optionally AAC.
    ///   - renditions: what to make; none may be taller than the source.
    ///   - sink: called with (index into `renditions`, bytes) as output is muxed, from the
    ///     encoding threads, one call at a time; each rendition's bytes arrive in order.
    /// - Throws: ``MediaError``; ``MediaError/isInputProblem`` says whether the source was at fault.
    public static func transcode(
        source: [UInt8], renditions: [Rendition], settings: EncoderSettings,
        sink: @escaping (Int, UnsafeRawBufferPointer) -> Void
    ) throws {
        try MediaError.settings(settings.validate)
        guard !renditions.isEmpty, renditions.count <= 8 else {
            throw MediaError.invalidSettings("ask for 1 to 8 renditions, not \(renditions.count)")
        }
        for rendition in renditions { try MediaError.settings(rendition.validate) }
        guard !source.isEmpty, source.count <= maxSourceBytes else {
            throw MediaError.invalidInput("the source segment is \(source.count) bytes; 1 to \(maxSourceBytes) are accepted")
        }
        FFmpegLog.reset()
        let input = try InputContainer(bytes: source, name: "source segment")
        guard let videoStream = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            throw MediaError.unsupported("the source segment has no video stream")
        }
        let parameters = videoStream.pointee.codecpar.pointee
        guard parameters.codec_id == AV_CODEC_ID_H264 else {
            throw MediaError.unsupported("the source segment's video is \(String(cString: avcodec_get_name(parameters.codec_id))), not H.264")
        }
        guard parameters.width > 0, parameters.height > 0, parameters.width <= 8192, parameters.height <= 8192 else {
            throw MediaError.invalidInput("the source segment's video size \(parameters.width)x\(parameters.height) is outside 1..8192")
        }
        for rendition in renditions where rendition.height > parameters.height {
            throw MediaError.invalidSettings(
                "rendition \(rendition.name) (\(rendition.height) lines) is taller than the \(parameters.height)-line source")
        }
        var audioStream = input.bestStream(AVMEDIA_TYPE_AUDIO)
        if let stream = audioStream, stream.pointee.codecpar.pointee.codec_id != AV_CODEC_ID_AAC {
            audioStream = nil  // only AAC is carried; a source from `depin publish` never has other audio
        }
        let timeBase = videoStream.pointee.time_base
        let frameRate = MediaInfo.frameRational(videoStream)

        let pass = try LadderPass(
            renditions: renditions, settings: settings, timeBase: timeBase, frameRate: frameRate,
            audio: audioStream?.pointee.codecpar, sink: sink)
        let decoder = try CodecContext.decoder(for: videoStream, threads: settings.threads)
        let packet = try Packet()
        let frame = try Frame()
        var lastPts = Int64.min
        var frames = 0

        func decode(_ packet: UnsafeMutablePointer<AVPacket>?) throws {
            try decoder.send(packet: packet)
            while try decoder.receive(frame: frame.pointer) == .ready {
                defer { frame.unref() }
                let picture = frame.pointer
                guard picture.pointee.width <= 8192, picture.pointee.height <= 8192 else {
                    throw MediaError.invalidInput("a decoded picture is \(picture.pointee.width)x\(picture.pointee.height)")
                }
                let timestamp = picture.pointee.best_effort_timestamp
                guard timestamp != shim_AV_NOPTS_VALUE(), timestamp > lastPts else { continue }
                lastPts = timestamp
                picture.pointee.pts = timestamp
                try pass.encode(picture)
                frames += 1
            }
        }

        while try input.read(into: packet.pointer) {
            let index = packet.pointer.pointee.stream_index
            if index == videoStream.pointee.index {
                try decode(packet.pointer)
            } else if let audioStream, index == audioStream.pointee.index {
                try pass.copyAudio(packet.pointer, timeBase: audioStream.pointee.time_base)
            }
            packet.unref()
        }
        try decode(nil)
        guard frames > 0 else {
            throw MediaError.invalidInput("no picture in the source segment could be decoded (\(FFmpegLog.explain(shim_AVERROR_INVALIDDATA())))")
        }
        try pass.finish()
    }
}

/// The encoders and muxers of one ladder pass: one thread per picture size, which scales each
/// decoded picture once and encodes it into every rendition of that size, so decoding, scaling
/// and encoding run side by side. Each rendition's bytes depend only on the pictures, never on
/// the threads' timing.
private final class LadderPass {
    private let groups: [SizeGroup]
    private var stopped = false

    init(
        renditions: [Rendition], settings: EncoderSettings, timeBase: AVRational, frameRate: AVRational,
        audio: UnsafeMutablePointer<AVCodecParameters>?, sink: @escaping (Int, UnsafeRawBufferPointer) -> Void
    ) throws {
        // Renditions of different sizes write from different threads: one at a time.
        let sinkLock = NSLock()
        var groups: [SizeGroup] = []
        for (index, rendition) in renditions.enumerated() {
            let encoder = try CodecContext.h264Encoder(
                width: rendition.width, height: rendition.height, timeBase: timeBase, frameRate: frameRate,
                bitrate: rendition.videoBitrate, maxBitrate: rendition.maxBitrate, gopFrames: 250, settings: settings)
            var output = try OutputContainer { bytes in sinkLock.withLock { sink(index, bytes) } }
            try output.addStream(encoder: encoder.pointer)
            if let audio { try output.addStream(parameters: audio) }
            try output.writeHeader()
            let target = SizeGroup.Target(encoder: Owned(encoder), output: Owned(output))
            if let group = groups.first(where: { $0.width == rendition.width && $0.height == rendition.height }) {
                group.targets.append(target)
            } else {
                let scaler = try Scaler(width: rendition.width, height: rendition.height, threads: settings.threads)
                groups.append(try SizeGroup(scaler: Owned(scaler), first: target, timeBase: timeBase))
            }
        }
        self.groups = groups
        groups.forEach { $0.start() }
    }

    deinit { stop() }

    /// Hands `picture` (a reference to it) to every size's thread.
    func encode(_ picture: UnsafeMutablePointer<AVFrame>) throws {
        for group in groups {
            guard let copy = av_frame_clone(picture) else { throw MediaError.outOfMemory("a picture reference") }
            try group.push(.picture(copy))
        }
    }

    /// Copies one AAC packet into every output.
    func copyAudio(_ source: UnsafeMutablePointer<AVPacket>, timeBase: AVRational) throws {
        for group in groups {
            guard let copy = av_packet_clone(source) else { throw MediaError.outOfMemory("a packet reference") }
            try group.push(.audio(copy, timeBase))
        }
    }

    /// Flushes every encoder, finishes every output, and waits for the threads.
    /// - Throws: the first error any thread met.
    func finish() throws {
        stop()
        for group in groups { if let failure = group.failure { throw failure } }
    }

    private func stop() {
        guard !stopped else { return }
        stopped = true
        groups.forEach { $0.end() }
        groups.forEach { $0.waitUntilFinished() }
    }
}

/// One picture size of a ladder pass and the thread that scales to it and encodes every
/// rendition of it.
///
/// `@unchecked Sendable`: the FFmpeg objects are used by the group's own thread alone once it
/// started; the queue is the feed's.
private final class SizeGroup: @unchecked Sendable {
    struct Target {
        let encoder: Owned<CodecContext>
        let output: Owned<OutputContainer>
        var flushes = 0
    }

    enum Item {
        case picture(UnsafeMutablePointer<AVFrame>)
        case audio(UnsafeMutablePointer<AVPacket>, AVRational)
    }

    /// Pictures queued per thread: enough to ride out an encoder's uneven pace, few enough
    /// that memory stays small (a 1080p picture is 3 MB).
    private static let capacity = 4
    /// The first pictures leave at once (a viewer is waiting for them); after that the muxer's
    /// buffer fills before it is handed on, so the edge handles a few dozen pieces, not one per picture.
    private static let earlyFlushCount = 3

    let width: Int
    let height: Int
    var targets: [Target]
    private let scaler: Owned<Scaler>
    private let timeBase: AVRational
    private let packet: Packet
    private let feed = FeedThread<Item>(capacity: SizeGroup.capacity, release: SizeGroup.free)

    init(scaler: Owned<Scaler>, first: Target, timeBase: AVRational) throws {
        self.scaler = scaler
        width = scaler.value.width
        height = scaler.value.height
        targets = [first]
        self.timeBase = timeBase
        packet = try Packet()
    }

    var failure: (any Error)? { feed.failure }

    func start() {
        feed.start(name: "encode-\(height)p", handle: { [self] in try handle($0) }, finish: { [self] in try finishOutputs() })
    }

    func push(_ item: Item) throws { try feed.push(item) }

    func end() { feed.end() }

    func waitUntilFinished() { feed.waitUntilFinished() }

    private func handle(_ item: Item) throws {
        switch item {
        case .picture(let picture):
            defer { Self.free(item) }
            let scaled = try scaler.value.scale(picture)
            for index in targets.indices {
                try targets[index].encoder.value.send(frame: scaled)
                try drain(index)
            }
        case .audio(let source, let base):
            defer { Self.free(item) }
            for target in targets {
                try check(av_packet_ref(packet.pointer, source), "copying an audio packet")
                try target.output.value.write(packet.pointer, stream: 1, timeBase: base)
            }
        }
    }

    private func finishOutputs() throws {
        for index in targets.indices {
            try targets[index].encoder.value.send(frame: nil)
            try drain(index)
            try targets[index].output.value.finish()
        }
    }

    private func drain(_ index: Int) throws {
        var wrote = false
        while try targets[index].encoder.value.receive(packet: packet.pointer) == .ready {
            try targets[index].output.value.write(packet.pointer, stream: 0, timeBase: timeBase)
            wrote = true
        }
        if wrote && targets[index].flushes < Self.earlyFlushCount {
            targets[index].output.value.flush()
            targets[index].flushes += 1
        }
    }

    private static func free(_ item: Item) {
        switch item {
        case .picture(let picture): freeFrame(picture)
        case .audio(let packet, _): freePacket(packet)
        }
    }
}
