import CFFmpeg

/// An MPEG-TS muxer owned by Swift, writing through a custom `AVIOContext` to a closure, so
/// bytes can leave (to a file, a pipe, a viewer) while the rest is still being made.
struct OutputContainer: ~Copyable {
    let context: UnsafeMutablePointer<AVFormatContext>
    private let writer: MemoryWriter
    private var headerWritten = false
    /// Packets go through FFmpeg's interleaving queue (a file's order); false: written as they
    /// come (live, where a packet must not wait for the other stream's next one).
    private let interleaved: Bool

    /// - Parameter sink: called with each piece of muxed output, in order, on the muxing thread.
    init(interleaved: Bool = true, sink: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        self.interleaved = interleaved
        FFmpegLog.capture()
        var context: UnsafeMutablePointer<AVFormatContext>?
        try check(avformat_alloc_output_context2(&context, nil, "mpegts", nil), "making an MPEG-TS muxer")
        guard let context else { throw MediaError.outOfMemory("a muxer") }
        do {
            writer = try MemoryWriter(sink: sink)
        } catch {
            avformat_free_context(context)
            throw error
        }
        context.pointee.pb = writer.io
        context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT
        self.context = context
    }

    deinit {
        avformat_free_context(context)
        writer.release()
    }

    /// Adds a stream described by `parameters` (copied) with `timeBase` as the packets' time base.
    @discardableResult
    func addStream(parameters: UnsafePointer<AVCodecParameters>) throws -> UnsafeMutablePointer<AVStream> {
        guard let stream = avformat_new_stream(context, nil) else { throw MediaError.outOfMemory("a stream") }
        try check(avcodec_parameters_copy(stream.pointee.codecpar, parameters), "copying stream parameters")
        stream.pointee.codecpar.pointee.codec_tag = 0
        return stream
    }

    /// Adds a stream that carries an encoder's output.
    @discardableResult
    func addStream(encoder: UnsafeMutablePointer<AVCodecContext>) throws -> UnsafeMutablePointer<AVStream> {
        guard let stream = avformat_new_stream(context, nil) else { throw MediaError.outOfMemory("a stream") }
        try check(avcodec_parameters_from_context(stream.pointee.codecpar, encoder), "copying encoder parameters")
        stream.pointee.time_base = encoder.pointee.time_base
        return stream
    }

    func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> { context.pointee.streams[index]! }

    var streamCount: Int { Int(context.pointee.nb_streams) }

    mutating func writeHeader() throws {
        try check(avformat_write_header(context, nil), "writing the MPEG-TS header")
        headerWritten = true
    }

    /// Writes `packet` (whose timestamps are in `timeBase`) to stream `index`, interleaved.
    /// Takes the packet's payload.
    func write(_ packet: UnsafeMutablePointer<AVPacket>, stream index: Int, timeBase: AVRational) throws {
        packet.pointee.stream_index = Int32(index)
        av_packet_rescale_ts(packet, timeBase, stream(index).pointee.time_base)
        packet.pointee.pos = -1
        if interleaved {
            try check(av_interleaved_write_frame(context, packet), "muxing a packet")
        } else {
            try check(av_write_frame(context, packet), "muxing a packet")
        }
    }

    /// Pushes out whatever the muxer's buffer holds.
    func flush() { avio_flush(context.pointee.pb) }

    /// Writes out the audio the MPEG-TS muxer gathers into larger PES packets, then flushes:
    /// afterwards every packet written so far has left through the sink.
    func flushPackets() throws {
        if !interleaved { try check(av_write_frame(context, nil), "flushing the muxer") }
        avio_flush(context.pointee.pb)
    }

    /// The next packet written is preceded by the PAT and PMT (MPEG-TS's `resend_headers`).
    func resendHeaders() throws {
        try check(av_opt_set(context.pointee.priv_data, "mpegts_flags", "+resend_headers", 0), "asking for the PAT and PMT")
    }

    /// Writes what the interleaver still holds and the trailer, and flushes.
    func finish() throws {
        guard headerWritten else { return }
        try check(av_write_trailer(context), "finishing the MPEG-TS output")
        avio_flush(context.pointee.pb)
    }
}

/// Hands FFmpeg's output to a closure through a custom `AVIOContext`.
///
/// Used from the muxing thread only; the owning ``OutputContainer`` keeps it alive and calls
/// ``release()`` exactly once.
final class MemoryWriter {
    private let sink: (UnsafeRawBufferPointer) -> Void
    private(set) var io: UnsafeMutablePointer<AVIOContext>!

    static let bufferSize = 32 * 1024

    init(sink: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        self.sink = sink
        guard let buffer = av_malloc(Self.bufferSize) else { throw MediaError.outOfMemory("an output buffer") }
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        guard let io = avio_alloc_context(
            buffer.assumingMemoryBound(to: UInt8.self), Int32(Self.bufferSize), 1, opaque, nil, Self.writeCallback, nil)
        else {
            av_free(buffer)
            throw MediaError.outOfMemory("an output context")
        }
        self.io = io
    }

    func release() {
        guard io != nil else { return }
        av_freep(&io.pointee.buffer)
        avio_context_free(&io)
    }

    private static let writeCallback: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int32) -> Int32 = {
        opaque, buffer, size in
        let writer = Unmanaged<MemoryWriter>.fromOpaque(opaque!).takeUnretainedValue()
        if let buffer, size > 0 { writer.sink(UnsafeRawBufferPointer(start: buffer, count: Int(size))) }
        return size
    }
}
