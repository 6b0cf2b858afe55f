import CFFmpeg

/// Scales (and converts to yuv420p) decoded pictures to one output size, into a frame it owns.
///
/// The input size and format may change between frames (a hostile or spliced stream); the
/// swscale context is remade when they do.
struct Scaler: ~Copyable {
    let width: Int
    let height: Int
    /// Slice threads (swscale's output does not depend on them).
    let threads: Int
    private var context: OpaquePointer?
    private var input: (width: Int32, height: Int32, format: Int32) = (0, 0, -1)
    private let output: Frame

    init(width: Int, height: Int, threads: Int = 1) throws {
        self.width = width
        self.height = height
        self.threads = threads
        output = try Frame()
    }

    deinit { sws_freeContext(context) }

    /// A bicubic swscale context for this input shape, with slice threads.
    private func makeContext(_ shape: (width: Int32, height: Int32, format: Int32)) -> OpaquePointer? {
        guard shape.width > 0, shape.height > 0, let context = sws_alloc_context() else { return nil }
        let raw = UnsafeMutableRawPointer(context)
        let settings: [(String, Int64)] = [
            ("srcw", Int64(shape.width)), ("srch", Int64(shape.height)), ("src_format", Int64(shape.format)),
            ("dstw", Int64(width)), ("dsth", Int64(height)), ("dst_format", Int64(AV_PIX_FMT_YUV420P.rawValue)),
            ("sws_flags", Int64(SWS_BICUBIC)), ("threads", Int64(threads)),
        ]
        for (name, value) in settings where av_opt_set_int(raw, name, value, 0) < 0 {
            sws_freeContext(context)
            return nil
        }
        guard sws_init_context(context, nil, nil) >= 0 else {
            sws_freeContext(context)
            return nil
        }
        return context
    }

    /// Scales `source` and returns the scaled frame (valid until the next call), carrying the
    /// source's timestamp.
    mutating func scale(_ source: UnsafeMutablePointer<AVFrame>) throws -> UnsafeMutablePointer<AVFrame> {
        let shape = (source.pointee.width, source.pointee.height, source.pointee.format)
        if context == nil || shape != input {
            sws_freeContext(context)
            context = makeContext(shape)
            input = shape
        }
        guard let context else {
            throw MediaError.invalidInput("cannot scale a \(source.pointee.width)x\(source.pointee.height) picture to \(width)x\(height)")
        }
        let frame = output.pointer
        if frame.pointee.data.0 == nil {
            frame.pointee.width = Int32(width)
            frame.pointee.height = Int32(height)
            frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            try check(av_frame_get_buffer(frame, 0), "allocating a \(width)x\(height) picture")
        } else {
            // An encoder may still hold a reference to the last picture: copy on write.
            try check(av_frame_make_writable(frame), "reusing a picture")
        }
        let rows = withUnsafePointer(to: source.pointee.data) { sourceData in
            withUnsafePointer(to: source.pointee.linesize) { sourceLines in
                withUnsafePointer(to: frame.pointee.data) { destinationData in
                    withUnsafePointer(to: frame.pointee.linesize) { destinationLines in
                        sws_scale(
                            context,
                            UnsafeRawPointer(sourceData).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                            UnsafeRawPointer(sourceLines).assumingMemoryBound(to: Int32.self),
                            0, source.pointee.height,
                            UnsafeRawPointer(destinationData).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                            UnsafeRawPointer(destinationLines).assumingMemoryBound(to: Int32.self))
                    }
                }
            }
        }
        try check(rows, "scaling a picture")
        frame.pointee.pts = source.pointee.pts
        frame.pointee.pict_type = AV_PICTURE_TYPE_NONE
        return frame
    }
}
