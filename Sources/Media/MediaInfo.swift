import CFFmpeg

/// What a probe found in an input.
public struct MediaInfo: Codable, Sendable, Hashable {
    public struct Video: Codable, Sendable, Hashable {
        public var codec: String
        public var width: Int
        public var height: Int
        /// Frames per second (average, or the container's guess).
        public var frameRate: Double
        public var pixelFormat: String
    }
    public struct Audio: Codable, Sendable, Hashable {
        public var codec: String
        public var sampleRate: Int
        public var channels: Int
    }

    /// The container format FFmpeg recognised (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `mpegts`).
    public var container: String
    /// Seconds; 0 when the container does not say.
    public var duration: Double
    public var video: Video?
    public var audio: Audio?

    /// Opens the file at `path` with libavformat and describes its best video and audio streams.
    /// - Throws: ``MediaError`` naming the file and FFmpeg's reason.
    public static func probe(path: String) throws -> MediaInfo {
        let input = try InputContainer(path: path)
        return MediaInfo(input)
    }

    /// Describes media held in memory.
    public static func probe(bytes: [UInt8], name: String) throws -> MediaInfo {
        let input = try InputContainer(bytes: bytes, name: name)
        return MediaInfo(input)
    }

    init(_ input: borrowing InputContainer) {
        container = String(cString: input.context.pointee.iformat.pointee.name)
        let rawDuration = input.context.pointee.duration
        duration = rawDuration > 0 ? Double(rawDuration) / Double(shim_AV_TIME_BASE()) : 0
        if let stream = input.bestStream(AVMEDIA_TYPE_VIDEO) {
            let p = stream.pointee.codecpar.pointee
            let format = av_get_pix_fmt_name(AVPixelFormat(rawValue: p.format)).map { String(cString: $0) } ?? "unknown"
            video = Video(
                codec: String(cString: avcodec_get_name(p.codec_id)), width: Int(p.width), height: Int(p.height),
                frameRate: Self.frameRate(stream), pixelFormat: format)
        }
        if let stream = input.bestStream(AVMEDIA_TYPE_AUDIO) {
            let p = stream.pointee.codecpar.pointee
            audio = Audio(codec: String(cString: avcodec_get_name(p.codec_id)), sampleRate: Int(p.sample_rate), channels: Int(p.ch_layout.nb_channels))
        }
    }

    /// The stream's frame rate: average, else the container's base rate, else 30.
    static func frameRate(_ stream: UnsafeMutablePointer<AVStream>) -> Double {
        for rate in [stream.pointee.avg_frame_rate, stream.pointee.r_frame_rate] where rate.num > 0 && rate.den > 0 {
            let value = Double(rate.num) / Double(rate.den)
            if value > 0 && value <= 240 { return value }
        }
        return 30
    }

    /// As ``frameRate(_:)``, as a rational.
    static func frameRational(_ stream: UnsafeMutablePointer<AVStream>) -> AVRational {
        for rate in [stream.pointee.avg_frame_rate, stream.pointee.r_frame_rate] where rate.num > 0 && rate.den > 0 {
            let value = Double(rate.num) / Double(rate.den)
            if value > 0 && value <= 240 { return rate }
        }
        return AVRational(num: 30, den: 1)
    }
}
