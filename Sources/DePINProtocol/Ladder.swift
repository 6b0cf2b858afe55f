/// One output of the ABR ladder: a picture size and the bitrate to encode it at.
public struct Rendition: Codable, Sendable, Hashable {
    /// The folder and playlist name, such as `720p`.
    public var name: String
    public var width: Int
    public var height: Int
    /// Target video bitrate, bits per second (x264 ABR).
    public var videoBitrate: Int
    /// The VBV ceiling, bits per second; the buffer is twice this over one second.
    public var maxBitrate: Int

    public init(name: String, width: Int, height: Int, videoBitrate: Int, maxBitrate: Int? = nil) {
        self.name = name
        self.width = width
        self.height = height
        self.videoBitrate = videoBitrate
        self.maxBitrate = maxBitrate ?? videoBitrate * 3 / 2
    }

    /// Checks the sizes and bitrates are ones libx264 can make.
    public func validate() throws {
        guard (16...8192).contains(width), (16...8192).contains(height), width % 2 == 0, height % 2 == 0 else {
            throw ProtocolError.invalid("rendition \(name): \(width)x\(height) must be even sizes from 16 to 8192")
        }
        guard (50_000...100_000_000).contains(videoBitrate), maxBitrate >= videoBitrate, maxBitrate <= 200_000_000 else {
            throw ProtocolError.invalid(
                "rendition \(name): bitrate \(videoBitrate) (max \(maxBitrate)) must be 50 kbit/s to 100 Mbit/s, max at least the target")
        }
        guard !name.isEmpty, name.utf8.count <= 32, name.utf8.allSatisfy({ Rendition.nameBytes.contains($0) }) else {
            throw ProtocolError.invalid("rendition name '\(name)' must be 1 to 32 letters, digits, '_' or '-'")
        }
    }

    private static let nameBytes = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-".utf8)
}

/// Every encoder setting a transcode depends on. Two edges given the same settings and the same
/// source segment produce the same bytes, so the coordinator can compare their outputs; the
/// thread count is part of it because libx264's output changes with it.
public struct EncoderSettings: Codable, Sendable, Hashable {
    /// libx264 preset.
    public var preset: String
    /// H.264 profile.
    public var profile: String
    /// libx264 threads (and decoder threads).
    public var threads: Int
    /// CRF for the source rendition when `depin publish` has to re-encode.
    public var sourceQuality: Double
    /// AAC bitrate when audio has to be re-encoded, bits per second.
    public var audioBitrate: Int

    public init(preset: String = "veryfast", profile: String = "high", threads: Int = 2, sourceQuality: Double = 21, audioBitrate: Int = 128_000) {
        self.preset = preset
        self.profile = profile
        self.threads = threads
        self.sourceQuality = sourceQuality
        self.audioBitrate = audioBitrate
    }

    public static let presets: Set<String> = [
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
    ]
    public static let profiles: Set<String> = ["baseline", "main", "high"]

    public func validate() throws {
        guard Self.presets.contains(preset) else { throw ProtocolError.invalid("unknown x264 preset '\(preset)'") }
        guard Self.profiles.contains(profile) else { throw ProtocolError.invalid("unknown H.264 profile '\(profile)'") }
        guard (1...16).contains(threads) else { throw ProtocolError.invalid("threads must be 1 to 16, not \(threads)") }
        guard (0...51).contains(sourceQuality) else { throw ProtocolError.invalid("source CRF must be 0 to 51") }
        guard (32_000...512_000).contains(audioBitrate) else {
            throw ProtocolError.invalid("audio bitrate must be 32 to 512 kbit/s")
        }
    }
}

/// The ABR ladder the network derives from a source.
public enum Ladder {
    /// Heights and bitrates (video, bits/s) of the standard ladder, tallest first.
    public static let standard: [(height: Int, bitrate: Int)] = [
        (1080, 5_000_000), (720, 2_800_000), (480, 1_400_000), (360, 800_000),
    ]

    /// The renditions derivable from a `width`x`height` source: every standard step shorter than
    /// the source (never taller: upscaling adds bytes, not detail), keeping the aspect ratio with
    /// even sizes.
    public static func derive(sourceWidth: Int, sourceHeight: Int) -> [Rendition] {
        guard sourceWidth > 0, sourceHeight > 0 else { return [] }
        return standard.filter { $0.height < sourceHeight }.map { step in
            let width = Int((Double(sourceWidth) * Double(step.height) / Double(sourceHeight) / 2).rounded()) * 2
            return Rendition(name: "\(step.height)p", width: max(width, 16), height: step.height, videoBitrate: step.bitrate)
        }
    }
}
