import Foundation

/// Makes test clips with FFmpeg's lavfi sources (a moving test pattern and a sine tone), so
/// tests need no media files in the repository.
public enum TestClip {
    /// Writes a clip to `path`.
    /// - Parameters:
    ///   - video: an ffmpeg encoder (`libx264`, `mpeg4`).
    ///   - audio: an ffmpeg encoder (`aac`, `pcm_s16le`, `libopus`), or nil for none.
    ///   - keyint: frames between keyframes (libx264 and mpeg4 honour `-g`).
    public static func make(
        _ path: String, width: Int = 640, height: Int = 360, rate: Int = 30, seconds: Double = 8, keyint: Int = 30,
        video: String = "libx264", audio: String? = "aac", extra: [String] = []
    ) async throws {
        var arguments = [
            "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=\(width)x\(height):rate=\(rate):duration=\(seconds)",
        ]
        if audio != nil { arguments += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=\(seconds)"] }
        arguments += ["-c:v", video, "-g", "\(keyint)", "-pix_fmt", "yuv420p"]
        if video == "libx264" { arguments += ["-preset", "veryfast", "-threads", "2"] }
        if let audio { arguments += ["-c:a", audio, "-shortest"] }
        arguments += extra + [path]
        let result = try await run("/usr/bin/ffmpeg", arguments)
        guard result.status == 0 else { throw ToolError("ffmpeg could not make \(path): \(result.output)") }
    }
}

/// Reads facts about media files with ffprobe (an independent check of what the code wrote).
public enum Probe {
    /// ffprobe's JSON for `path`'s streams (and frames, when asked).
    public static func json(_ path: String, _ extra: [String] = []) async throws -> [String: Any] {
        let result = try await run(
            "/usr/bin/ffprobe", ["-v", "error", "-of", "json", "-show_streams"] + extra + [path], mergeErrors: false)
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: result.data) as? [String: Any] else {
            throw ToolError("ffprobe could not read \(path)")
        }
        return object
    }

    /// The video stream's facts.
    public static func video(_ path: String) async throws -> [String: Any] {
        let streams = try await json(path)["streams"] as? [[String: Any]] ?? []
        guard let video = streams.first(where: { $0["codec_type"] as? String == "video" }) else { throw ToolError("\(path) has no video") }
        return video
    }

    /// Every video frame's picture type and presentation time, in order.
    public static func frames(_ path: String) async throws -> [(type: String, time: Double, key: Bool)] {
        let object = try await json(path, ["-select_streams", "v", "-show_frames", "-show_entries", "frame=pict_type,pts_time,key_frame"])
        return (object["frames"] as? [[String: Any]] ?? []).map {
            ($0["pict_type"] as? String ?? "?", Double($0["pts_time"] as? String ?? "") ?? -1, ($0["key_frame"] as? Int ?? 0) == 1)
        }
    }

    /// Mean luma PSNR of `distorted` against `reference` scaled to the distorted size.
    public static func psnr(_ distorted: String, reference: String, width: Int, height: Int) async throws -> Double {
        let result = try await run(
            "/usr/bin/ffmpeg",
            ["-nostats", "-i", distorted, "-i", reference, "-lavfi", "[1:v]scale=\(width):\(height)[ref];[0:v][ref]psnr", "-f", "null", "-"])
        guard let line = result.output.split(separator: "\n").first(where: { $0.contains("PSNR y:") }),
            let y = line.split(separator: " ").first(where: { $0.hasPrefix("y:") }), let value = Double(y.dropFirst(2))
        else { throw ToolError("no PSNR in ffmpeg's output: \(result.output.suffix(500))") }
        return value
    }
}

public struct ToolError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
