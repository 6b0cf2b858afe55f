import CFFmpeg

/// One connection's audio: decoded whatever its codec, resampled and encoded once into the
/// stream's AAC (the encoder outlives the connection, so every rung's audio is one stream).
final class LiveAudioInput {
    let streamIndex: Int32
    private let timeBase: AVRational
    private let decoder: Owned<CodecContext>
    private var converter: Owned<AudioConverter>?
    private let frame: Frame
    private let encoded: Packet

    init(stream: UnsafeMutablePointer<AVStream>) throws {
        streamIndex = stream.pointee.index
        timeBase = stream.pointee.time_base
        decoder = Owned(try CodecContext.decoder(for: stream, threads: 1))
        frame = try Frame()
        encoded = try Packet()
    }

    /// Decodes `packet` and encodes what it held into `ladder`'s rungs.
    /// - Parameter start: where audio whose input timestamp is the argument (90 kHz) begins on
    ///   the output clock; asked once, at the connection's first decoded audio.
    /// - Returns: the end of the last audio handed to the encoder (90 kHz), if any was: the
    ///   next connection's audio must begin after it, the encoder being the same.
    func process(
        _ packet: UnsafeMutablePointer<AVPacket>, encoder: Owned<CodecContext>, ladder: LiveLadder, start: (Int64?) -> Int64
    ) throws -> Int64? {
        do { try decoder.value.send(packet: packet) } catch { return nil }  // a damaged audio packet is skipped
        let encoderBase = encoder.value.pointer.pointee.time_base
        var end: Int64?
        while (try? decoder.value.receive(frame: frame.pointer)) == .ready {
            defer { frame.unref() }
            if converter == nil {
                let timestamp = frame.pointer.pointee.best_effort_timestamp
                let input = timestamp == shim_AV_NOPTS_VALUE() ? nil : av_rescale_q(timestamp, timeBase, LiveIngest.clock)
                guard let made = try? AudioConverter(decoder: decoder.value.pointer, encoder: encoder.value.pointer) else { return nil }
                converter = Owned(made)
                startPts = av_rescale_q(start(input), LiveIngest.clock, encoderBase)
            }
            try converter!.value.push(frame.pointer, startPts: startPts)
            while let chunk = try converter!.value.pull(final: false) {
                end = av_rescale_q(chunk.pointee.pts + Int64(chunk.pointee.nb_samples), encoderBase, LiveIngest.clock)
                try encoder.value.send(frame: chunk)
                while try encoder.value.receive(packet: encoded.pointer) == .ready {
                    av_packet_rescale_ts(encoded.pointer, encoderBase, LiveIngest.clock)
                    try ladder.addAudio(encoded.pointer)
                    av_packet_unref(encoded.pointer)
                }
            }
        }
        return end
    }

    private var startPts: Int64 = 0
}
