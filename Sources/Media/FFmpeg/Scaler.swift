import CFFmpeg

/// Scales (and converts to yuv420p) decoded pictures to one output size, into a frame it owns.
///
/// The input size and format may change between frames (a hostile or spliced stream); the
/// swscale context is remade when they do.
struct Scaler: ~Copyable {
    let width: Int
    let height: Int
    private var context: OpaquePointer?
    private let output: Frame

    init(width: Int, height: Int) throws {
        self.width = width
        self.height = height
        output = try Frame()
    }

    deinit { sws_freeContext(context) }

    /// Scales `source` and returns the scaled frame (valid until the next call), carrying the
    /// source's timestamp.
    mutating func scale(_ source: UnsafeMutablePointer<AVFrame>) throws -> UnsafeMutablePointer<AVFrame> {
        let format = AVPixelFormat(rawValue: source.pointee.format)
        context = sws_getCachedContext(
            context, source.pointee.width, source.pointee.height, format,
            Int32(width), Int32(height), AV_PIX_FMT_YUV420P, SWS_BICUBIC, nil, nil, nil)
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
