import CFFmpeg
import DePINProtocol

/// An `AVCodecContext` owned by Swift, for one decoder or encoder.
struct CodecContext: ~Copyable {
    let pointer: UnsafeMutablePointer<AVCodecContext>

    /// What a `receive` call found.
    enum Received {
        case ready
        case needsInput
        case finished
    }

    private init(codec: UnsafePointer<AVCodec>) throws {
        guard let pointer = avcodec_alloc_context3(codec) else { throw MediaError.outOfMemory("a codec context") }
        self.pointer = pointer
    }

    deinit {
        var pointer: UnsafeMutablePointer<AVCodecContext>? = pointer
        avcodec_free_context(&pointer)
    }

    /// Opens a decoder for `stream`.
    /// - Parameter threads: decoder threads (0: as many as FFmpeg likes; decoding is exact either way).
    static func decoder(for stream: UnsafeMutablePointer<AVStream>, threads: Int) throws -> CodecContext {
        let parameters = stream.pointee.codecpar!
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            let name = String(cString: avcodec_get_name(parameters.pointee.codec_id))
            throw MediaError.unsupported("no decoder for \(name)")
        }
        let context = try CodecContext(codec: codec)
        try check(avcodec_parameters_to_context(context.pointer, parameters), "copying stream parameters")
        context.pointer.pointee.pkt_timebase = stream.pointee.time_base
        context.pointer.pointee.thread_count = Int32(threads)
        try check(avcodec_open2(context.pointer, codec, nil), "opening the \(String(cString: codec.pointee.name)) decoder")
        return context
    }

    /// Opens the libx264 encoder for one rendition with every setting fixed by `settings`, so the
    /// same frames always give the same bytes.
    /// - Parameter live: tuned for latency (no B-frames, no look-ahead, a packet out for every
    ///   picture in) and no scene-cut keyframes, so keyframes fall only where the caller forces
    ///   them, at the same pictures in every rendition.
    static func h264Encoder(
        width: Int, height: Int, timeBase: AVRational, frameRate: AVRational,
        bitrate: Int?, maxBitrate: Int?, gopFrames: Int, settings: EncoderSettings, live: Bool = false
    ) throws -> CodecContext {
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw MediaError.unsupported("this FFmpeg has no libx264 encoder")
        }
        let context = try CodecContext(codec: codec)
        let c = context.pointer
        c.pointee.width = Int32(width)
        c.pointee.height = Int32(height)
        c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        c.pointee.time_base = timeBase
        c.pointee.framerate = frameRate
        c.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        c.pointee.gop_size = Int32(gopFrames)
        c.pointee.thread_count = Int32(settings.threads)
        if let bitrate {
            c.pointee.bit_rate = Int64(bitrate)
            if let maxBitrate {
                c.pointee.rc_max_rate = Int64(maxBitrate)
                c.pointee.rc_buffer_size = Int32(clamping: maxBitrate * 2)
            }
        }
        let options = c.pointee.priv_data
        try check(av_opt_set(options, "preset", settings.preset, 0), "libx264 preset \(settings.preset)")
        try check(av_opt_set(options, "profile", settings.profile, 0), "libx264 profile \(settings.profile)")
        if bitrate == nil {
            try check(av_opt_set_double(options, "crf", settings.sourceQuality, 0), "libx264 crf")
        }
        try check(av_opt_set_int(options, "forced-idr", 1, 0), "libx264 forced-idr")
        // Sliced threads: frame threads with VBV give different bytes from run to run (measured:
        // three runs, three files), which would make two honest edges disagree. Slices are
        // repeatable, bound the peak rate, and add no frame-thread delay before the first packet.
        try check(av_opt_set(options, "x264-params", live ? "sliced-threads=1:scenecut=0" : "sliced-threads=1", 0), "libx264 sliced threads")
        if live { try check(av_opt_set(options, "tune", "zerolatency", 0), "libx264 zerolatency") }
        try check(avcodec_open2(c, codec, nil), "opening libx264 at \(width)x\(height)")
        return context
    }

    /// Opens FFmpeg's native AAC encoder.
    static func aacEncoder(sampleRate: Int, channels: Int, bitrate: Int) throws -> CodecContext {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_AAC) else {
            throw MediaError.unsupported("this FFmpeg has no AAC encoder")
        }
        let context = try CodecContext(codec: codec)
        let c = context.pointer
        c.pointee.sample_rate = Int32(sampleRate)
        c.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        av_channel_layout_default(&c.pointee.ch_layout, Int32(channels))
        c.pointee.bit_rate = Int64(bitrate)
        c.pointee.time_base = AVRational(num: 1, den: Int32(sampleRate))
        c.pointee.thread_count = 1
        try check(avcodec_open2(c, codec, nil), "opening the AAC encoder")
        return context
    }

    /// Sends a packet (nil: end of stream) to a decoder.
    func send(packet: UnsafeMutablePointer<AVPacket>?) throws {
        let status = avcodec_send_packet(pointer, packet)
        if status == shim_AVERROR_EAGAIN() || status == shim_AVERROR_EOF() { return }
        try check(status, "decoding")
    }

    /// Takes the next decoded frame.
    func receive(frame: UnsafeMutablePointer<AVFrame>) throws -> Received {
        let status = avcodec_receive_frame(pointer, frame)
        if status == shim_AVERROR_EAGAIN() { return .needsInput }
        if status == shim_AVERROR_EOF() { return .finished }
        try check(status, "decoding")
        return .ready
    }

    /// Sends a frame (nil: flush) to an encoder.
    func send(frame: UnsafeMutablePointer<AVFrame>?) throws {
        let status = avcodec_send_frame(pointer, frame)
        if status == shim_AVERROR_EOF() { return }
        try check(status, "encoding")
    }

    /// Takes the next encoded packet.
    func receive(packet: UnsafeMutablePointer<AVPacket>) throws -> Received {
        let status = avcodec_receive_packet(pointer, packet)
        if status == shim_AVERROR_EAGAIN() { return .needsInput }
        if status == shim_AVERROR_EOF() { return .finished }
        try check(status, "encoding")
        return .ready
    }
}
