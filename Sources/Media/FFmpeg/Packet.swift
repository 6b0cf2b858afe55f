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

/// Frees a frame reference made by `av_frame_clone`.
func freeFrame(_ frame: UnsafeMutablePointer<AVFrame>) {
    var owned: UnsafeMutablePointer<AVFrame>? = frame
    av_frame_free(&owned)
}

/// Frees a packet reference made by `av_packet_clone`.
func freePacket(_ packet: UnsafeMutablePointer<AVPacket>) {
    var owned: UnsafeMutablePointer<AVPacket>? = packet
    av_packet_free(&owned)
}
