import CFFmpeg

/// Why a media operation failed, with FFmpeg's own words when FFmpeg said why.
public struct MediaError: Error, CustomStringConvertible, Sendable {
    enum Code: Sendable {
        case unreadable
        case unsupported
        case invalidInput
        case invalidSettings
        case ffmpeg
    }
    let code: Code
    /// One line saying what was wrong.
    public let message: String

    public var description: String { message }

    /// The input itself is at fault (unreadable, corrupt, or a kind this code does not handle),
    /// as opposed to the settings or the machine.
    public var isInputProblem: Bool { code == .unreadable || code == .unsupported || code == .invalidInput }

    /// `name` could not be opened or parsed as media.
    static func unreadable(_ name: String, _ status: Int32) -> Self {
        .init(code: .unreadable, message: "cannot read \(name): \(FFmpegLog.explain(status))")
    }

    /// The input is readable but holds something this pipeline does not handle.
    static func unsupported(_ what: String) -> Self { .init(code: .unsupported, message: what) }

    /// The input broke a rule while it was being processed (bad sizes, timestamps).
    static func invalidInput(_ what: String) -> Self { .init(code: .invalidInput, message: what) }

    /// The caller asked for something that cannot be done (sizes, bitrates, presets).
    static func invalidSettings(_ what: String) -> Self { .init(code: .invalidSettings, message: what) }

    /// An FFmpeg call failed with `status` while doing `what`.
    static func ffmpeg(_ what: String, _ status: Int32) -> Self {
        let invalid = status == shim_AVERROR_INVALIDDATA() || status == shim_AVERROR_EOF()
        return .init(code: invalid ? .invalidInput : .ffmpeg, message: "\(what): \(FFmpegLog.explain(status))")
    }

    /// FFmpeg could not allocate `what`.
    static func outOfMemory(_ what: String) -> Self { .init(code: .ffmpeg, message: "out of memory allocating \(what)") }
}

/// Throws ``MediaError/ffmpeg(_:_:)`` when `status` is negative; returns it otherwise.
@discardableResult
func check(_ status: Int32, _ what: @autoclosure () -> String) throws -> Int32 {
    if status < 0 { throw MediaError.ffmpeg(what(), status) }
    return status
}

extension MediaError {
    /// Runs `check` (a wire type's `validate()`), reporting what it refuses as settings that
    /// cannot be made.
    static func settings(_ check: () throws -> Void) throws(MediaError) {
        do { try check() } catch { throw .invalidSettings("\(error)") }
    }
}
