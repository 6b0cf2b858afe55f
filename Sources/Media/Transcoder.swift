import CFFmpeg

/// Makes renditions of one source segment in one pass: decode once, scale once per distinct
/// size, encode each rendition with libx264, copy the AAC audio, mux each to MPEG-TS.
///
/// Every output keeps the source segment's timestamps (same 90 kHz clock, same first frame, a
/// keyframe first), so a player can switch renditions at any segment boundary. Output bytes are
/// handed to `sink` as they are muxed (after every video packet), so a viewer can be served
/// while the rest of the segment is still being encoded.
public enum Transcoder {
    /// The largest source segment accepted (a 4 s segment at 100 Mbit/s is 50 MB).
    public static let maxSourceBytes = 64 * 1024 * 1024

    /// - Parameters:
    ///   - source: one MPEG-TS (or any container FFmpeg reads) segment holding H.264 and
    ///     optionally AAC.
    ///   - renditions: what to make; none may be taller than the source.
    ///   - sink: called on this thread with (index into `renditions`, bytes) as output is muxed.
    /// - Throws: ``MediaError``; ``MediaError/isInputProblem`` says whether the source was at fault.
    public static func transcode(
        source: [UInt8], renditions: [Rendition], settings: EncoderSettings,
        sink: @escaping (Int, UnsafeRawBufferPointer) -> Void
    ) throws {
        try settings.validate()
        guard !renditions.isEmpty, renditions.count <= 8 else {
            throw MediaError.invalidSettings("ask for 1 to 8 renditions, not \(renditions.count)")
        }
        for rendition in renditions { try rendition.validate() }
        guard !source.isEmpty, source.count <= maxSourceBytes else {
            throw MediaError.invalidInput("the source segment is \(source.count) bytes; 1 to \(maxSourceBytes) are accepted")
        }
        FFmpegLog.reset()
        let input = try InputContainer(bytes: source, name: "source segment")
        guard let videoStream = input.bestStream(AVMEDIA_TYPE_VIDEO) else {
            throw MediaError.unsupported("the source segment has no video stream")
        }
        let parameters = videoStream.pointee.codecpar.pointee
        guard parameters.codec_id == AV_CODEC_ID_H264 else {
            throw MediaError.unsupported("the source segment's video is \(String(cString: avcodec_get_name(parameters.codec_id))), not H.264")
        }
        guard parameters.width > 0, parameters.height > 0, parameters.width <= 8192, parameters.height <= 8192 else {
            throw MediaError.invalidInput("the source segment's video size \(parameters.width)x\(parameters.height) is outside 1..8192")
        }
        for rendition in renditions where rendition.height > parameters.height {
            throw MediaError.invalidSettings(
                "rendition \(rendition.name) (\(rendition.height) lines) is taller than the \(parameters.height)-line source")
        }
        var audioStream = input.bestStream(AVMEDIA_TYPE_AUDIO)
        if let stream = audioStream, stream.pointee.codecpar.pointee.codec_id != AV_CODEC_ID_AAC {
            audioStream = nil  // only AAC is carried; a source from `depin publish` never has other audio
        }
        let timeBase = videoStream.pointee.time_base
        let frameRate = MediaInfo.frameRational(videoStream)

        let pass = try LadderPass(
            renditions: renditions, settings: settings, timeBase: timeBase, frameRate: frameRate,
            audio: audioStream?.pointee.codecpar, sink: sink)
        let decoder = try CodecContext.decoder(for: videoStream, threads: settings.threads)
        let packet = try Packet()
        let frame = try Frame()
        var lastPts = Int64.min
        var frames = 0

        func decode(_ packet: UnsafeMutablePointer<AVPacket>?) throws {
            try decoder.send(packet: packet)
            while try decoder.receive(frame: frame.pointer) == .ready {
                defer { frame.unref() }
                let picture = frame.pointer
                guard picture.pointee.width <= 8192, picture.pointee.height <= 8192 else {
                    throw MediaError.invalidInput("a decoded picture is \(picture.pointee.width)x\(picture.pointee.height)")
                }
                let timestamp = picture.pointee.best_effort_timestamp
                guard timestamp != shim_AV_NOPTS_VALUE(), timestamp > lastPts else { continue }
                lastPts = timestamp
                picture.pointee.pts = timestamp
                try pass.encode(picture)
                frames += 1
            }
        }

        while try input.read(into: packet.pointer) {
            let index = packet.pointer.pointee.stream_index
            if index == videoStream.pointee.index {
                try decode(packet.pointer)
            } else if let audioStream, index == audioStream.pointee.index {
                try pass.copyAudio(packet.pointer, timeBase: audioStream.pointee.time_base)
            }
            packet.unref()
        }
        try decode(nil)
        guard frames > 0 else {
            throw MediaError.invalidInput("no picture in the source segment could be decoded (\(FFmpegLog.explain(shim_AVERROR_INVALIDDATA())))")
        }
        try pass.finish()
    }
}

/// The encoders and muxers of one ladder pass, and the scalers they share.
private struct LadderPass: ~Copyable {
    private let encoders: [Owned<CodecContext>]
    private let outputs: [Owned<OutputContainer>]
    private let scalers: [Owned<Scaler>]
    /// For each rendition, the scaler that makes its size.
    private let scalerFor: [Int]
    private let timeBase: AVRational
    private let hasAudio: Bool
    private let packet: Packet

    init(
        renditions: [Rendition], settings: EncoderSettings, timeBase: AVRational, frameRate: AVRational,
        audio: UnsafeMutablePointer<AVCodecParameters>?, sink: @escaping (Int, UnsafeRawBufferPointer) -> Void
    ) throws {
        let packet = try Packet()
        var encoders: [Owned<CodecContext>] = []
        var outputs: [Owned<OutputContainer>] = []
        var scalers: [Owned<Scaler>] = []
        var sizes: [[Int]] = []
        var scalerFor: [Int] = []
        for (index, rendition) in renditions.enumerated() {
            let encoder = try CodecContext.h264Encoder(
                width: rendition.width, height: rendition.height, timeBase: timeBase, frameRate: frameRate,
                bitrate: rendition.videoBitrate, maxBitrate: rendition.maxBitrate, gopFrames: 250, settings: settings)
            var output = try OutputContainer { sink(index, $0) }
            try output.addStream(encoder: encoder.pointer)
            if let audio { try output.addStream(parameters: audio) }
            try output.writeHeader()
            encoders.append(Owned(encoder))
            outputs.append(Owned(output))
            let size = [rendition.width, rendition.height]
            if let existing = sizes.firstIndex(of: size) {
                scalerFor.append(existing)
            } else {
                sizes.append(size)
                scalers.append(Owned(try Scaler(width: rendition.width, height: rendition.height)))
                scalerFor.append(scalers.count - 1)
            }
        }
        self.encoders = encoders
        self.outputs = outputs
        self.scalers = scalers
        self.scalerFor = scalerFor
        self.timeBase = timeBase
        self.hasAudio = audio != nil
        self.packet = packet
    }

    /// Scales `picture` once per size and encodes it into every rendition.
    func encode(_ picture: UnsafeMutablePointer<AVFrame>) throws {
        var scaled: [UnsafeMutablePointer<AVFrame>] = []
        for scaler in scalers { scaled.append(try scaler.value.scale(picture)) }
        for index in encoders.indices {
            try encoders[index].value.send(frame: scaled[scalerFor[index]])
            try drain(index)
        }
    }

    /// Copies one AAC packet into every output.
    func copyAudio(_ source: UnsafeMutablePointer<AVPacket>, timeBase: AVRational) throws {
        guard hasAudio else { return }
        for index in outputs.indices {
            try check(av_packet_ref(packet.pointer, source), "copying an audio packet")
            try outputs[index].value.write(packet.pointer, stream: 1, timeBase: timeBase)
        }
    }

    /// Flushes every encoder and finishes every output.
    func finish() throws {
        for index in encoders.indices {
            try encoders[index].value.send(frame: nil)
            try drain(index)
            try outputs[index].value.finish()
        }
    }

    private func drain(_ index: Int) throws {
        var wrote = false
        while try encoders[index].value.receive(packet: packet.pointer) == .ready {
            try outputs[index].value.write(packet.pointer, stream: 0, timeBase: timeBase)
            wrote = true
        }
        if wrote { outputs[index].value.flush() }
    }
}
