import DePINProtocol
import Foundation
import Media
import Publishing

/// Shows publishing progress: a redrawn bar on a terminal, plain lines otherwise (logs, CI).
final class PublishProgress {
    private let terminal: Bool
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var total = 0.0

    init(terminal: Bool = isatty(STDERR_FILENO) == 1) { self.terminal = terminal }

    func handle(_ event: Publisher.Event) {
        switch event {
        case .started(let info):
            total = info.duration
            let video = info.video.map { "\($0.codec) \($0.width)x\($0.height) \(String(format: "%.2f", $0.frameRate)) fps" } ?? "no video"
            let audio = info.audio.map { "\($0.codec) \($0.sampleRate) Hz \($0.channels) ch" } ?? "no audio"
            say("input: \(info.container), \(String(format: "%.2f", info.duration)) s, \(video), \(audio)")
        case .advanced(let seconds, _):
            guard terminal, ContinuousClock.now - lastDraw > .milliseconds(100) else { return }
            lastDraw = .now
            draw(seconds)
        case .segment(let segment):
            if terminal {
                draw(nil)
            } else {
                say("segment \(segment.index): \(String(format: "%.3f", segment.duration)) s, \(segment.length) bytes, sha256 \(segment.sha256.prefix(16))…")
            }
        }
    }

    /// Ends the bar's line.
    func finish() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private var lastSeconds = 0.0

    private func draw(_ seconds: Double?) {
        if let seconds { lastSeconds = seconds }
        let fraction = total > 0 ? min(lastSeconds / total, 1) : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let line = String(format: "\r[%@] %3d%% %.1f/%.1f s", bar, Int(fraction * 100), lastSeconds, total)
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func say(_ line: String) {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
