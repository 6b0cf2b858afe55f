import Foundation
import DePINProtocol

/// What the edge sends a `depin transcode-worker` on its standard input: one JSON line, then
/// exactly `sourceBytes` bytes of the (decrypted) source segment.
package struct TranscodeRequest: Codable, Sendable {
    package var renditions: [Rendition]
    package var settings: EncoderSettings
    package var sourceBytes: Int

    package init(renditions: [Rendition], settings: EncoderSettings, sourceBytes: Int) {
        self.renditions = renditions
        self.settings = settings
        self.sourceBytes = sourceBytes
    }

    /// The longest request line accepted.
    package static let maxLineBytes = 64 * 1024
}

/// How the worker ends: sent as the last frame.
package struct TranscodeOutcome: Codable, Sendable {
    /// Nil on success.
    package var error: String?
    /// The source was at fault (corrupt, unsupported), as opposed to the settings or machine.
    package var inputProblem: Bool
    package var bytes: [Int]

    package init(error: String?, inputProblem: Bool, bytes: [Int]) {
        self.error = error
        self.inputProblem = inputProblem
        self.bytes = bytes
    }
}

/// The worker's standard output: frames of `tag (1 byte) | length (4 bytes, big-endian) | payload`.
/// Tags 0..<``outcomeTag`` carry output bytes of that rendition; ``outcomeTag`` carries the
/// ``TranscodeOutcome`` JSON and ends the stream.
package enum WorkerFrame {
    package static let outcomeTag: UInt8 = 0xFF
    package static let maxPayload = 16 << 20

    package static func header(tag: UInt8, length: Int) -> [UInt8] {
        [tag, UInt8(length >> 24 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
    }
}

/// Splits the worker's standard output back into frames, whatever pieces the pipe delivers.
package struct WorkerFrameDecoder {
    private var buffer: [UInt8] = []
    private var start = 0

    package init() {}

    /// Adds bytes and returns every frame now complete.
    /// - Throws: when a frame announces a payload over ``WorkerFrame/maxPayload``.
    package mutating func feed(_ bytes: UnsafeRawBufferPointer) throws -> [(tag: UInt8, payload: [UInt8])] {
        buffer.append(contentsOf: bytes)
        var frames: [(UInt8, [UInt8])] = []
        while buffer.count - start >= 5 {
            let length = Int(buffer[start + 1]) << 24 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 8 | Int(buffer[start + 4])
            guard length <= WorkerFrame.maxPayload else {
                throw TranscodeFailure.worker("the worker sent a \(length)-byte frame (at most \(WorkerFrame.maxPayload))")
            }
            guard buffer.count - start >= 5 + length else { break }
            frames.append((buffer[start], Array(buffer[(start + 5)..<(start + 5 + length)])))
            start += 5 + length
        }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        return frames
    }

    /// Bytes received that do not complete a frame.
    package var leftover: Int { buffer.count - start }
}

/// Why a transcode did not produce its renditions.
package struct TranscodeFailure: Error, CustomStringConvertible {
    package enum Code: Sendable {
        case input
        case worker
        case timedOut
        case source
    }
    package let code: Code
    package let message: String
    package var description: String { message }

    /// The source segment is corrupt or of a kind that cannot be transcoded.
    package static func input(_ message: String) -> Self { .init(code: .input, message: message) }
    /// The worker failed (crashed, ran out of memory, broke the protocol).
    package static func worker(_ message: String) -> Self { .init(code: .worker, message: message) }
    package static func timedOut(_ message: String) -> Self { .init(code: .timedOut, message: message) }
    /// The source segment could not be fetched, checked or decrypted.
    package static func source(_ message: String) -> Self { .init(code: .source, message: message) }
}
