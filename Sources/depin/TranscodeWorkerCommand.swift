import ArgumentParser
import Edge
import Foundation
import DePINProtocol
import Media

/// `depin transcode-worker`: the child process an edge starts for one transcode. Reads a
/// ``TranscodeRequest`` line and the source segment from standard input, writes framed output
/// (``WorkerFrame``) to standard output. Limits its own memory and CPU time before it reads
/// anything, so a hostile source can only hurt this process.
struct TranscodeWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode-worker",
        abstract: "Transcode one source segment (started by an edge; not for people).",
        shouldDisplay: false
    )

    @Option(name: .customLong("memory-limit"), help: "Address-space limit in bytes.") var memoryLimit: Int = 2 << 30
    @Option(name: .customLong("cpu-seconds"), help: "CPU-time limit in seconds.") var cpuSeconds: Int = 120

    func run() throws {
        var limit = rlimit(rlim_cur: rlim_t(memoryLimit), rlim_max: rlim_t(memoryLimit))
        setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit)
        var cpu = rlimit(rlim_cur: rlim_t(cpuSeconds), rlim_max: rlim_t(cpuSeconds + 5))
        setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &cpu)
        signal(SIGPIPE, SIG_IGN)

        var bytes = [Int]()
        do {
            let request = try readRequest()
            bytes = Array(repeating: 0, count: request.renditions.count)
            let source = try readExactly(request.sourceBytes)
            try Transcoder.transcode(source: source, renditions: request.renditions, settings: request.settings) { index, chunk in
                bytes[index] += chunk.count
                Self.writeFrame(tag: UInt8(index), chunk)
            }
            Self.finish(TranscodeOutcome(error: nil, inputProblem: false, bytes: bytes))
        } catch let error as MediaError {
            // FFmpeg reports an allocation refused by the address-space limit as a generic
            // error; say what the limit was so the operator can tell.
            let message = error.isInputProblem
                ? error.message
                : "\(error.message) (if memory ran out: this worker's limit is \(memoryLimit >> 20) MiB, transcode.memory_limit)"
            Self.finish(TranscodeOutcome(error: message, inputProblem: error.isInputProblem, bytes: bytes))
            throw ExitCode(2)
        } catch {
            Self.finish(TranscodeOutcome(error: "\(error)", inputProblem: false, bytes: bytes))
            throw ExitCode(2)
        }
    }

    private func readRequest() throws -> TranscodeRequest {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(STDIN_FILENO, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
            guard line.count <= TranscodeRequest.maxLineBytes else { throw WorkerError("the request line is over \(TranscodeRequest.maxLineBytes) bytes") }
        }
        let request: TranscodeRequest
        do {
            request = try JSONDecoder().decode(TranscodeRequest.self, from: Data(line))
        } catch {
            throw WorkerError("the request line is not a transcode request: \(error)")
        }
        guard (1...Transcoder.maxSourceBytes).contains(request.sourceBytes) else {
            throw WorkerError("the source is \(request.sourceBytes) bytes; 1 to \(Transcoder.maxSourceBytes) are accepted")
        }
        return request
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress! + filled, count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw WorkerError("the source ended after \(filled) of \(count) bytes") }
            filled += n
        }
        return buffer
    }

    private static func writeFrame(tag: UInt8, _ payload: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < payload.count {
            // Header and payload in one write: one wake-up of the edge per piece.
            let piece = min(payload.count - offset, WorkerFrame.maxPayload)
            var frame = WorkerFrame.header(tag: tag, length: piece)
            frame.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[offset..<(offset + piece)]))
            writeAll(frame)
            offset += piece
        }
    }

    private static func finish(_ outcome: TranscodeOutcome) {
        let json = (try? JSONEncoder().encode(outcome)) ?? Data("{\"inputProblem\":false,\"bytes\":[]}".utf8)
        writeAll(WorkerFrame.header(tag: WorkerFrame.outcomeTag, length: json.count))
        json.withUnsafeBytes { writeAll($0) }
    }

    private static func writeAll(_ bytes: [UInt8]) { bytes.withUnsafeBytes { writeAll($0) } }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let n = write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { Foundation.exit(3) }  // the edge went away: nobody to tell
            offset += n
        }
    }
}

private struct WorkerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
