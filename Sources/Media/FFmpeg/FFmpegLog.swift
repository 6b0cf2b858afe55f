import CFFmpeg
import Synchronization

/// Keeps FFmpeg's log off stderr and remembers its last warning, so an error can say why
/// ("Invalid NAL unit size") and not only "Invalid data found when processing input".
///
/// One process runs one media job (publish, or one transcode in a worker), so one remembered
/// line per process is enough.
enum FFmpegLog {
    private static let last = Mutex("")
    private static let installed = Mutex(false)

    /// Installs the callback once per process.
    static func capture() {
        installed.withLock { done in
            guard !done else { return }
            done = true
            shim_capture_log()
        }
    }

    /// FFmpeg's text for `status`, with the last warning it logged when there is one.
    static func explain(_ status: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        shim_av_strerror(status, &buffer, buffer.count)
        let reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let detail = last.withLock { $0 }
        return detail.isEmpty || detail == reason ? reason : "\(reason) (\(detail))"
    }

    /// Forgets the remembered warning (before a new job).
    static func reset() { last.withLock { $0 = "" } }

    private static let watched = Mutex<(needles: [String], seen: String?)>(([], nil))

    /// From now on, remembers the first line that contains one of `needles` (for warnings FFmpeg
    /// logs but does not act on, such as an RTMP publisher's wrong stream name).
    static func watch(for needles: [String]) { watched.withLock { $0 = (needles, nil) } }

    /// The first watched line seen since ``watch(for:)``, if any.
    static var watchedLine: String? { watched.withLock { $0.seen } }

    /// Called by the C shim's log callback with one formatted line at warning level or worse
    /// (or one quieter line it lets through for ``watch(for:)``).
    static func remember(_ line: UnsafePointer<CChar>, level: Int32) {
        var text = String(cString: line)
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        guard !text.isEmpty else { return }
        if level <= AV_LOG_WARNING { last.withLock { $0 = text } }
        watched.withLock { state in
            if state.seen == nil, state.needles.contains(where: { text.contains($0) }) { state.seen = text }
        }
    }
}

/// The one symbol the C shim's log callback calls (`depin_ffmpeg_log_line` in shim.h).
@_cdecl("depin_ffmpeg_log_line")
func ffmpegLogLine(_ level: Int32, _ line: UnsafePointer<CChar>?) {
    if let line { FFmpegLog.remember(line, level: level) }
}
