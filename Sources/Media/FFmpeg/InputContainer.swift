import CFFmpeg

/// A demuxer (`AVFormatContext` opened for reading) owned by Swift, over a file or bytes in memory.
struct InputContainer: ~Copyable {
    let context: UnsafeMutablePointer<AVFormatContext>
    private let reader: MemoryReader?

    /// Opens and probes the file at `path`.
    /// - Throws: ``MediaError`` naming the file and FFmpeg's reason.
    init(path: String) throws {
        FFmpegLog.capture()
        var context: UnsafeMutablePointer<AVFormatContext>?
        let status = avformat_open_input(&context, path, nil, nil)
        guard status >= 0, let context else { throw MediaError.unreadable(path, status) }
        try Self.findStreamInfo(context, name: path, reader: nil)
        self.context = context
        self.reader = nil
    }

    /// Opens and probes `url` (a file, or a network input such as an RTMP or SRT listener) with
    /// FFmpeg `options`; `interrupt` is polled while FFmpeg waits, and aborts the wait when it
    /// returns nonzero.
    init(
        url: String, options: [String: String], name: String,
        interrupt: AVIOInterruptCB, probe: (bytes: Int64, microseconds: Int64)? = nil
    ) throws {
        FFmpegLog.capture()
        guard let allocated = avformat_alloc_context() else { throw MediaError.outOfMemory("a demuxer") }
        allocated.pointee.interrupt_callback = interrupt
        if let probe {
            allocated.pointee.probesize = probe.bytes
            allocated.pointee.max_analyze_duration = probe.microseconds
        }
        var dictionary: OpaquePointer?
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        var context: UnsafeMutablePointer<AVFormatContext>? = allocated
        let status = avformat_open_input(&context, url, nil, &dictionary)
        guard status >= 0, let context else { throw MediaError.unreadable(name, status) }
        try Self.findStreamInfo(context, name: name, reader: nil)
        self.context = context
        self.reader = nil
    }

    /// Opens and probes `bytes` (a whole file held in memory; `name` is used in errors).
    init(bytes: [UInt8], name: String) throws {
        FFmpegLog.capture()
        let reader = try MemoryReader(bytes: bytes)
        guard let allocated = avformat_alloc_context() else {
            reader.release()
            throw MediaError.outOfMemory("a demuxer")
        }
        allocated.pointee.pb = reader.io
        allocated.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
        var context: UnsafeMutablePointer<AVFormatContext>? = allocated
        let status = avformat_open_input(&context, name, nil, nil)
        guard status >= 0, let context else {
            // avformat_open_input freed the context on failure; the custom IO is ours.
            reader.release()
            throw MediaError.unreadable(name, status)
        }
        try Self.findStreamInfo(context, name: name, reader: reader)
        self.context = context
        self.reader = reader
    }

    /// Reads enough of the input to know its streams; on failure closes everything opened.
    private static func findStreamInfo(_ context: UnsafeMutablePointer<AVFormatContext>, name: String, reader: MemoryReader?) throws {
        let status = avformat_find_stream_info(context, nil)
        if status < 0 {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            reader?.release()
            throw MediaError.unreadable(name, status)
        }
    }

    deinit {
        var context: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&context)
        reader?.release()
    }

    /// The container's streams.
    var streams: [UnsafeMutablePointer<AVStream>] {
        (0..<Int(context.pointee.nb_streams)).compactMap { context.pointee.streams[$0] }
    }

    /// The best stream of `type`, if there is one.
    func bestStream(_ type: AVMediaType) -> UnsafeMutablePointer<AVStream>? {
        let index = av_find_best_stream(context, type, -1, -1, nil, 0)
        return index >= 0 ? context.pointee.streams[Int(index)] : nil
    }

    /// Reads the next packet into `packet`; false at the end of the input.
    func read(into packet: UnsafeMutablePointer<AVPacket>) throws -> Bool {
        let status = av_read_frame(context, packet)
        if status == shim_AVERROR_EOF() { return false }
        try check(status, "reading the input")
        return true
    }
}

/// Serves bytes held in memory to FFmpeg through a custom `AVIOContext`.
///
/// Used from one thread at a time (the demuxer's); FFmpeg holds an unretained pointer to it, so
/// the owning ``InputContainer`` keeps it alive and calls ``release()`` exactly once.
final class MemoryReader {
    private let bytes: UnsafeMutableRawBufferPointer
    private var position = 0
    private(set) var io: UnsafeMutablePointer<AVIOContext>!

    static let bufferSize = 32 * 1024

    init(bytes source: [UInt8]) throws {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 16)
        source.withUnsafeBytes { bytes.copyMemory(from: $0) }
        self.bytes = bytes
        count = source.count
        guard let buffer = av_malloc(Self.bufferSize) else {
            bytes.deallocate()
            throw MediaError.outOfMemory("an input buffer")
        }
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        guard let io = avio_alloc_context(
            buffer.assumingMemoryBound(to: UInt8.self), Int32(Self.bufferSize), 0, opaque,
            Self.readCallback, nil, Self.seekCallback)
        else {
            av_free(buffer)
            bytes.deallocate()
            throw MediaError.outOfMemory("an input context")
        }
        self.io = io
    }

    private let count: Int

    /// Frees the IO context, its buffer and the bytes.
    func release() {
        if io != nil {
            av_freep(&io.pointee.buffer)
            avio_context_free(&io)
        }
        bytes.deallocate()
    }

    private static let readCallback: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int32) -> Int32 = {
        opaque, buffer, size in
        let reader = Unmanaged<MemoryReader>.fromOpaque(opaque!).takeUnretainedValue()
        let n = min(Int(size), reader.count - reader.position)
        guard n > 0, let buffer else { return shim_AVERROR_EOF() }
        UnsafeMutableRawPointer(buffer).copyMemory(from: reader.bytes.baseAddress! + reader.position, byteCount: n)
        reader.position += n
        return Int32(n)
    }

    private static let seekCallback: @convention(c) (UnsafeMutableRawPointer?, Int64, Int32) -> Int64 = {
        opaque, offset, whence in
        let reader = Unmanaged<MemoryReader>.fromOpaque(opaque!).takeUnretainedValue()
        let target: Int64
        switch whence & ~AVSEEK_FORCE {
        case AVSEEK_SIZE: return Int64(reader.count)
        case SEEK_SET: target = offset
        case SEEK_CUR: target = Int64(reader.position) + offset
        case SEEK_END: target = Int64(reader.count) + offset
        default: return -1
        }
        guard target >= 0, target <= Int64(reader.count) else { return -1 }
        reader.position = Int(target)
        return target
    }
}
