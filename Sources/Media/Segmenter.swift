import CFFmpeg
import DePINProtocol

/// How `depin publish` cuts its input.
public struct SegmentingOptions: Sendable {
    /// Target segment length, seconds; segments end on the first keyframe at or after it.
    public var targetDuration: Double
    /// Settings for when the input has to be re-encoded.
    public var encoder: EncoderSettings
    /// Re-encode even an input that is already H.264 and AAC.
    public var forceReencode: Bool

    public init(targetDuration: Double = 4, encoder: EncoderSettings = .init(), forceReencode: Bool = false) {
        self.targetDuration = targetDuration
        self.encoder = encoder
        self.forceReencode = forceReencode
    }
}

/// What the source rendition turned out to be.
public struct SegmentingResult: Sendable {
    public var input: MediaInfo
    /// True when the video was re-encoded, false when its packets were copied.
    public var videoReencoded: Bool
    public var audioReencoded: Bool
    public var width: Int
    public var height: Int
    public var frameRate: Double
    /// The RFC 6381 codecs string for the master playlist (`avc1.640028,mp4a.40.2`).
    public var codecs: String
    public var segmentCount: Int
}

/// Cuts any input FFmpeg can read into keyframe-aligned H.264/AAC MPEG-TS segments: copies the
/// packets when the input is already H.264 (8-bit 4:2:0) and AAC, re-encodes what is not.
public enum Segmenter {
    /// - Parameters:
    ///   - path: the input file.
    ///   - progress: called with the seconds of video done, about once per frame.
    ///   - emit: called with each finished segment, in order.
    /// - Throws: ``MediaError`` (with FFmpeg's reason), or what `emit` throws.
    public static func segment(
        path: String, options: SegmentingOptions,
        progress: (Double) -> Void = { _ in },
        emit: @escaping (MediaSegment) throws -> Void
    ) throws -> SegmentingResult {
        try MediaError.settings(options.encoder.validate)
        guard options.targetDuration >= 1, options.targetDuration <= 30 else {
            throw MediaError.invalidSettings("segment duration must be 1 to 30 seconds, not \(options.targetDuration)")
        }
        FFmpegLog.reset()
        let input = try InputContainer(path: path)
        let info = MediaInfo(input)
        guard let videoStream = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            throw MediaError.unsupported("\(path) has no video stream")
        }
        let audioStream = input.bestStream(AVMEDIA_TYPE_AUDIO)
        let vp = videoStream.pointee.codecpar.pointee
        guard vp.width > 0, vp.height > 0, vp.width <= 8192, vp.height <= 8192 else {
            throw MediaError.unsupported("\(path): video size \(vp.width)x\(vp.height) is outside 1..8192")
        }
        let pixelFormat = AVPixelFormat(rawValue: vp.format)
        let copyVideo =
            !options.forceReencode && vp.codec_id == AV_CODEC_ID_H264
            && (pixelFormat == AV_PIX_FMT_YUV420P || pixelFormat == AV_PIX_FMT_YUVJ420P)
        let copyAudio = !options.forceReencode && audioStream?.pointee.codecpar.pointee.codec_id == AV_CODEC_ID_AAC
        let frameRate = MediaInfo.frameRational(videoStream)
        let frameTicks = av_rescale_q(1, AVRational(num: frameRate.den, den: frameRate.num), SegmentWriter.clock)
        let startTime = input.context.pointee.start_time
        let zero = startTime == shim_AV_NOPTS_VALUE() ? 0 : av_rescale_q(startTime, shim_AV_TIME_BASE_Q(), SegmentWriter.clock)

        var video = try VideoPath(stream: videoStream, copy: copyVideo, frameRate: frameRate, options: options)
        var audio: AudioPath? = nil
        var audioParameters: UnsafePointer<AVCodecParameters>?
        if let audioStream {
            let path = try AudioPath(stream: audioStream, copy: copyAudio, settings: options.encoder)
            audioParameters = UnsafePointer(path.parameters.pointer)
            audio = .some(consume path)
        }

        var count = 0
        var writer = SegmentWriter(
            target: options.targetDuration, video: UnsafePointer(video.parameters.pointer), audio: audioParameters,
            zero: zero, frameTicks: frameTicks
        ) { segment in
            count += 1
            try emit(segment)
        }
        let packet = try Packet()
        while try input.read(into: packet.pointer) {
            let index = packet.pointer.pointee.stream_index
            if index == videoStream.pointee.index {
                try video.process(packet.pointer, into: &writer)
                progress(writer.secondsWritten)
            } else if let audioStream, index == audioStream.pointee.index {
                try audio?.process(packet.pointer, into: &writer)
            }
            packet.unref()
        }
        try video.process(nil, into: &writer)
        try audio?.process(nil, into: &writer)
        try writer.finish()
        progress(writer.secondsWritten)
        guard count > 0 else {
            throw MediaError.invalidInput("\(path): no video frame could be decoded (\(FFmpegLog.explain(shim_AVERROR_INVALIDDATA())))")
        }
        let hasAudio = audioStream != nil
        return SegmentingResult(
            input: info, videoReencoded: !copyVideo, audioReencoded: hasAudio && !copyAudio,
            width: Int(video.parameters.pointer.pointee.width), height: Int(video.parameters.pointer.pointee.height),
            frameRate: Double(frameRate.num) / Double(frameRate.den),
            codecs: Codecs.string(video: video.parameters.pointer, hasAudio: hasAudio), segmentCount: count)
    }
}

/// The video half of segmenting: copy packets, or decode and re-encode with keyframes forced at
/// every segment boundary.
private struct VideoPath: ~Copyable {
    let parameters: CodecParameters
    private let timeBase: AVRational
    private let decoder: Owned<CodecContext>?
    private let encoder: Owned<CodecContext>?
    private let scaler: Owned<Scaler>?
    private let frame: Frame
    private let encoded: Packet
    private let target: Int64
    private var nextKeyframe: Int64?
    private var lastPts = Int64.min

    init(stream: UnsafeMutablePointer<AVStream>, copy: Bool, frameRate: AVRational, options: SegmentingOptions) throws {
        let frame = try Frame()
        let encoded = try Packet()
        var coders: (Owned<CodecContext>, Owned<CodecContext>, Owned<Scaler>)?
        if !copy {
            let decoder = try CodecContext.decoder(for: stream, threads: options.encoder.threads)
            let width = Int(stream.pointee.codecpar.pointee.width) & ~1
            let height = Int(stream.pointee.codecpar.pointee.height) & ~1
            let fps = Double(frameRate.num) / Double(frameRate.den)
            let encoder = try CodecContext.h264Encoder(
                width: width, height: height, timeBase: SegmentWriter.clock, frameRate: frameRate,
                bitrate: nil, maxBitrate: nil, gopFrames: max(Int((fps * options.targetDuration).rounded()), 1),
                settings: options.encoder)
            coders = (Owned(decoder), Owned(encoder), Owned(try Scaler(width: width, height: height)))
        }
        parameters = try coders.map { try CodecParameters(encoder: $0.1.value.pointer) } ?? CodecParameters(copying: stream.pointee.codecpar)
        self.frame = frame
        self.encoded = encoded
        timeBase = stream.pointee.time_base
        target = Int64(options.targetDuration * 90_000)
        decoder = coders?.0
        encoder = coders?.1
        scaler = coders?.2
    }

    /// Handles one input packet (nil: the end).
    mutating func process(_ packet: UnsafeMutablePointer<AVPacket>?, into writer: inout SegmentWriter) throws {
        guard let decoder, let encoder else {
            if let packet { try writer.write(packet, video: true, timeBase: timeBase) }
            return
        }
        try decoder.value.send(packet: packet)
        while try decoder.value.receive(frame: frame.pointer) == .ready {
            defer { frame.unref() }
            let source = frame.pointer
            let timestamp = source.pointee.best_effort_timestamp
            guard timestamp != shim_AV_NOPTS_VALUE() else { continue }
            let pts = av_rescale_q(timestamp, timeBase, SegmentWriter.clock)
            guard pts > lastPts else { continue }  // a repeated or backwards frame: drop it
            lastPts = pts
            source.pointee.pts = pts
            let picture = try scaler!.value.scale(source)
            if nextKeyframe == nil || pts >= nextKeyframe! {
                picture.pointee.pict_type = AV_PICTURE_TYPE_I
                nextKeyframe = (nextKeyframe ?? pts) + target
            }
            try encoder.value.send(frame: picture)
            try drain(encoder, into: &writer)
        }
        if packet == nil {
            try encoder.value.send(frame: nil)
            try drain(encoder, into: &writer)
        }
    }

    private func drain(_ encoder: Owned<CodecContext>, into writer: inout SegmentWriter) throws {
        while try encoder.value.receive(packet: encoded.pointer) == .ready {
            try writer.write(encoded.pointer, video: true, timeBase: SegmentWriter.clock)
        }
    }
}

/// The audio half of segmenting: copy AAC packets, or decode, resample and encode AAC.
private struct AudioPath: ~Copyable {
    let parameters: CodecParameters
    let copy: Bool
    private let timeBase: AVRational
    private let decoder: Owned<CodecContext>?
    private let encoder: Owned<CodecContext>?
    private let converter: Owned<AudioConverter>?
    private let frame: Frame
    private let encoded: Packet
    private var startPts: Int64?

    init(stream: UnsafeMutablePointer<AVStream>, copy: Bool, settings: EncoderSettings) throws {
        let frame = try Frame()
        let encoded = try Packet()
        var coders: (Owned<CodecContext>, Owned<CodecContext>, Owned<AudioConverter>)?
        if !copy {
            let decoder = try CodecContext.decoder(for: stream, threads: 1)
            let supported: Set<Int32> = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000]
            let rate = supported.contains(decoder.pointer.pointee.sample_rate) ? Int(decoder.pointer.pointee.sample_rate) : 48000
            let channels = min(max(Int(decoder.pointer.pointee.ch_layout.nb_channels), 1), 2)
            let encoder = try CodecContext.aacEncoder(sampleRate: rate, channels: channels, bitrate: settings.audioBitrate)
            let converter = try AudioConverter(decoder: decoder.pointer, encoder: encoder.pointer)
            coders = (Owned(decoder), Owned(encoder), Owned(converter))
        }
        parameters = try coders.map { try CodecParameters(encoder: $0.1.value.pointer) } ?? CodecParameters(copying: stream.pointee.codecpar)
        self.copy = copy
        self.frame = frame
        self.encoded = encoded
        timeBase = stream.pointee.time_base
        decoder = coders?.0
        encoder = coders?.1
        converter = coders?.2
    }

    mutating func process(_ packet: UnsafeMutablePointer<AVPacket>?, into writer: inout SegmentWriter) throws {
        guard let decoder, let encoder else {
            if let packet { try writer.write(packet, video: false, timeBase: timeBase) }
            return
        }
        let encoderBase = encoder.value.pointer.pointee.time_base
        try decoder.value.send(packet: packet)
        while try decoder.value.receive(frame: frame.pointer) == .ready {
            defer { frame.unref() }
            if startPts == nil {
                let ts = frame.pointer.pointee.best_effort_timestamp
                startPts = ts == shim_AV_NOPTS_VALUE() ? 0 : av_rescale_q(ts, timeBase, encoderBase)
            }
            try converter!.value.push(frame.pointer, startPts: startPts!)
            while let chunk = try converter!.value.pull(final: false) {
                try encoder.value.send(frame: chunk)
                try drain(encoder, base: encoderBase, into: &writer)
            }
        }
        if packet == nil {
            if startPts != nil {
                try converter!.value.push(nil, startPts: startPts!)
                while let chunk = try converter!.value.pull(final: true) {
                    try encoder.value.send(frame: chunk)
                    try drain(encoder, base: encoderBase, into: &writer)
                }
            }
            try encoder.value.send(frame: nil)
            try drain(encoder, base: encoderBase, into: &writer)
        }
    }

    private func drain(_ encoder: Owned<CodecContext>, base: AVRational, into writer: inout SegmentWriter) throws {
        while try encoder.value.receive(packet: encoded.pointer) == .ready {
            try writer.write(encoded.pointer, video: false, timeBase: base)
        }
    }
}
