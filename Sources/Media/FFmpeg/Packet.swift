import CFFmpeg

/// An `AVPacket` owned by Swift: allocated once, freed exactly once.
struct Packet: ~Copyable {
    let pointer: UnsafeMutablePointer<AVPacket>

    init() throws {
        guard let pointer = av_packet_alloc() else { throw MediaError.outOfMemory("a packet") }
        self.pointer = pointer
    }

    deinit {
        var pointer: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&pointer)
    }

    /// Drops the payload so the packet can be filled again.
    func unref() { av_packet_unref(pointer) }
}

/// An `AVFrame` owned by Swift: allocated once, freed exactly once.
struct Frame: ~Copyable {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws {
        guard let pointer = av_frame_alloc() else { throw MediaError.outOfMemory("a frame") }
        self.pointer = pointer
    }

    deinit {
        var pointer: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&pointer)
    }

    func unref() { av_frame_unref(pointer) }
}
