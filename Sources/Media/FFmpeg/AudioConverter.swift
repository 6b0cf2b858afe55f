import CFFmpeg

/// Turns decoded audio of any format into the AAC encoder's frames: resamples to the encoder's
/// format, rate and channels, and re-cuts into frames of the encoder's frame size.
struct AudioConverter: ~Copyable {
    private let resampler: OpaquePointer
    private let fifo: OpaquePointer
    private let frameSize: Int32
    private let sampleRate: Int32
    private let channels: Int32
    private let format: AVSampleFormat
    private let output: Frame
    /// Samples handed out so far, in the encoder's time base (1/sample rate), from `start`.
    private var emitted: Int64 = 0
    private var start: Int64?

    init(decoder: UnsafeMutablePointer<AVCodecContext>, encoder: UnsafeMutablePointer<AVCodecContext>) throws {
        var swr: OpaquePointer?
        try check(
            swr_alloc_set_opts2(
                &swr, &encoder.pointee.ch_layout, encoder.pointee.sample_fmt, encoder.pointee.sample_rate,
                &decoder.pointee.ch_layout, decoder.pointee.sample_fmt, decoder.pointee.sample_rate, 0, nil),
            "setting up the audio resampler")
        guard let swr else { throw MediaError.outOfMemory("a resampler") }
        let initialized = swr_init(swr)
        if initialized < 0 {
            var owned: OpaquePointer? = swr
            swr_free(&owned)
            throw MediaError.ffmpeg("starting the audio resampler", initialized)
        }
        guard let fifo = av_audio_fifo_alloc(encoder.pointee.sample_fmt, encoder.pointee.ch_layout.nb_channels, 4096) else {
            var owned: OpaquePointer? = swr
            swr_free(&owned)
            throw MediaError.outOfMemory("an audio buffer")
        }
        let output: Frame
        do {
            output = try Frame()
        } catch {
            var owned: OpaquePointer? = swr
            swr_free(&owned)
            av_audio_fifo_free(fifo)
            throw error
        }
        self.resampler = swr
        self.fifo = fifo
        self.frameSize = encoder.pointee.frame_size > 0 ? encoder.pointee.frame_size : 1024
        self.sampleRate = encoder.pointee.sample_rate
        self.channels = encoder.pointee.ch_layout.nb_channels
        self.format = encoder.pointee.sample_fmt
        self.output = output
    }

    deinit {
        var swr: OpaquePointer? = resampler
        swr_free(&swr)
        av_audio_fifo_free(fifo)
    }

    /// Adds decoded samples (nil: flush the resampler). `startPts` is the first frame's time in
    /// the encoder's time base; later frames follow on sample by sample.
    mutating func push(_ frame: UnsafeMutablePointer<AVFrame>?, startPts: Int64) throws {
        if start == nil { start = startPts }
        let inputSamples = frame?.pointee.nb_samples ?? 0
        let capacity = swr_get_out_samples(resampler, inputSamples) + 32
        guard capacity > 0 else { return }
        var planes = [UnsafeMutablePointer<UInt8>?](repeating: nil, count: 8)
        try check(
            av_samples_alloc(&planes, nil, channels, capacity, format, 0),
            "allocating audio samples")
        defer { av_freep(&planes) }
        let converted: Int32
        if let frame {
            let input = UnsafeMutableRawPointer(frame.pointee.extended_data).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
            converted = swr_convert(resampler, &planes, capacity, input, inputSamples)
        } else {
            converted = swr_convert(resampler, &planes, capacity, nil, 0)
        }
        try check(converted, "resampling audio")
        if converted > 0 {
            let written = planes.withUnsafeMutableBufferPointer { buffer in
                av_audio_fifo_write(fifo, UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UnsafeMutableRawPointer?.self), converted)
            }
            try check(written, "buffering audio")
        }
    }

    /// The next encoder-sized frame, or the remainder when `final`; nil when not enough is buffered.
    mutating func pull(final: Bool) throws -> UnsafeMutablePointer<AVFrame>? {
        let available = av_audio_fifo_size(fifo)
        guard available >= frameSize || (final && available > 0) else { return nil }
        let count = min(available, frameSize)
        let frame = output.pointer
        av_frame_unref(frame)
        frame.pointee.nb_samples = count
        frame.pointee.format = format.rawValue
        frame.pointee.sample_rate = sampleRate
        av_channel_layout_default(&frame.pointee.ch_layout, channels)
        try check(av_frame_get_buffer(frame, 0), "allocating an audio frame")
        let read = withUnsafeMutablePointer(to: &frame.pointee.data) { data in
            av_audio_fifo_read(fifo, UnsafeMutableRawPointer(data).assumingMemoryBound(to: UnsafeMutableRawPointer?.self), count)
        }
        try check(read, "reading buffered audio")
        frame.pointee.pts = (start ?? 0) + emitted
        emitted += Int64(count)
        return frame
    }
}
