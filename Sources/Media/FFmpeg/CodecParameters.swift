import CFFmpeg

/// An `AVCodecParameters` owned by Swift: a stream's description, copied from a stream or an
/// encoder, freed exactly once.
struct CodecParameters: ~Copyable {
    let pointer: UnsafeMutablePointer<AVCodecParameters>

    /// A copy of `source`.
    init(copying source: UnsafePointer<AVCodecParameters>) throws {
        guard let pointer = avcodec_parameters_alloc() else { throw MediaError.outOfMemory("stream parameters") }
        let status = avcodec_parameters_copy(pointer, source)
        guard status >= 0 else {
            var owned: UnsafeMutablePointer<AVCodecParameters>? = pointer
            avcodec_parameters_free(&owned)
            throw MediaError.ffmpeg("copying stream parameters", status)
        }
        self.pointer = pointer
    }

    /// What `encoder` produces.
    init(encoder: UnsafeMutablePointer<AVCodecContext>) throws {
        guard let pointer = avcodec_parameters_alloc() else { throw MediaError.outOfMemory("stream parameters") }
        let status = avcodec_parameters_from_context(pointer, encoder)
        guard status >= 0 else {
            var owned: UnsafeMutablePointer<AVCodecParameters>? = pointer
            avcodec_parameters_free(&owned)
            throw MediaError.ffmpeg("copying encoder parameters", status)
        }
        self.pointer = pointer
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecParameters>? = pointer
        avcodec_parameters_free(&owned)
    }
}
