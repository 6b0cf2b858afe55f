import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs one transcode in a child process, `depin transcode-worker`, so a hostile or corrupt
/// source can crash or exhaust only the worker: its address space is capped (the worker sets
/// `RLIMIT_AS` and `RLIMIT_CPU` on itself before reading any input) and it is killed when it
/// runs past the time limit.
package struct TranscodeWorker: Sendable {
    package let executable: String
    package let timeout: Duration
    package let memoryLimit: Int

    package init(executable: String, timeout: Duration, memoryLimit: Int) {
        self.executable = executable
        self.timeout = timeout
        self.memoryLimit = memoryLimit
    }

    /// Sends `request` and `source`, and hands each piece of output to `onOutput` as it arrives
    /// (rendition index, bytes), in order per rendition.
    /// - Throws: ``TranscodeFailure``, or what `onOutput` throws.
    package func run(
        _ request: TranscodeRequest, source: [UInt8],
        onOutput: @escaping @Sendable (Int, [UInt8]) async throws -> Void
    ) async throws {
        var header = try JSONEncoder().encode(request)
        header.append(UInt8(ascii: "\n"))
        let input = Array(header) + source
        let cpuSeconds = max(Int(Double(timeout.components.seconds) * 2), 1)
        let watch = Watch()
        let timeout = self.timeout

        let status: TerminationStatus
        do {
          status = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: ["transcode-worker", "--memory-limit", String(memoryLimit), "--cpu-seconds", String(cpuSeconds)],
            environment: .inherit.updating(["MALLOC_ARENA_MAX": "2"]),
            input: .inputWriter,
            output: .sequence,
            error: .sequence
        ) { execution in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // A worker that dies early closes its end; the write then fails and the
                    // outcome (or exit status) says why.
                    _ = try? await execution.standardInputWriter.write(input)
                    try? await execution.standardInputWriter.finish()
                }
                group.addTask {
                    for try await chunk in execution.standardError {
                        let text = chunk.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                        watch.stderrTail.withLock { $0 = String(($0 + text).suffix(2000)) }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    watch.timedOut.withLock { $0 = true }
                    try? execution.send(signal: .kill)
                }
                var decoder = WorkerFrameDecoder()
                for try await chunk in execution.standardOutput {
                    let frames = try chunk.withUnsafeBytes { try decoder.feed($0) }
                    for frame in frames {
                        if frame.tag == WorkerFrame.outcomeTag {
                            guard let decoded = try? JSONDecoder().decode(TranscodeOutcome.self, from: Data(frame.payload)) else {
                                throw TranscodeFailure.worker("the worker's last frame is not an outcome")
                            }
                            watch.outcome.withLock { $0 = decoded }
                        } else {
                            guard Int(frame.tag) < request.renditions.count else {
                                throw TranscodeFailure.worker("the worker sent output for rendition \(frame.tag) of \(request.renditions.count)")
                            }
                            try await onOutput(Int(frame.tag), frame.payload)
                        }
                    }
                }
                // Standard output is closed: the worker is done (or dead). Stop the timer.
                try await Self.drain(&group)
            }
          }.terminationStatus
        } catch let failure as TranscodeFailure {
            throw failure
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw TranscodeFailure.worker("cannot run the transcode worker \(executable): \(error)")
        }
        if watch.timedOut.withLock({ $0 }) {
            throw TranscodeFailure.timedOut("the transcode took longer than \(timeout) and was stopped")
        }
        let final = watch.outcome.withLock { $0 }
        if let final {
            if let error = final.error {
                throw final.inputProblem ? TranscodeFailure.input(error) : TranscodeFailure.worker(error)
            }
            if case .exited(0) = status { return }
        }
        let tail = watch.stderrTail.withLock { $0 }.split(separator: "\n").last.map(String.init) ?? ""
        switch status {
        case .exited(let code):
            throw TranscodeFailure.worker("the transcode worker exited with status \(code) without finishing\(tail.isEmpty ? "" : ": \(tail)")")
        case .signaled(let signal):
            let reason = signal == 9 ? "killed" : signal == 11 ? "crashed (SIGSEGV)" : signal == 6 ? "aborted (out of memory?)" : "stopped by signal \(signal)"
            throw TranscodeFailure.worker("the transcode worker \(reason)\(tail.isEmpty ? "" : ": \(tail)")")
        }
    }

    /// What the tasks watching one worker learn, shared between them.
    private final class Watch: Sendable {
        let outcome = Mutex<TranscodeOutcome?>(nil)
        let stderrTail = Mutex("")
        let timedOut = Mutex(false)
    }

    /// Waits for the writer and stderr reader; cancels the timer.
    private static func drain(_ group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        // The timer is the only task that never ends by itself: finish the others first.
        var finished = 0
        while finished < 2 {
            guard let _ = try await group.next() else { break }
            finished += 1
        }
        group.cancelAll()
    }
}
