import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs each transcode in a child process, `depin transcode-worker`, so a hostile or corrupt
/// source can crash or exhaust only the worker: its address space is capped (the worker sets
/// `RLIMIT_AS` and `RLIMIT_CPU` on itself before reading any input) and it is killed when it
/// runs past the time limit.
///
/// One worker is kept started and waiting for its request (a warm spare), so a job does not
/// wait for a process to start and load FFmpeg (about 40 ms here); every job still gets a
/// fresh process, and the next spare is started as the job begins.
package final class TranscodeWorker: Sendable {
    package let executable: String
    package let timeout: Duration
    package let memoryLimit: Int
    private let spare = Mutex<Spare?>(nil)
    private let shutDown = Mutex(false)

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
        let job = Job(input: Array(header) + source, renditions: request.renditions.count, onOutput: onOutput)
        let worker = spare.withLock { $0.take() } ?? launch()
        if !shutDown.withLock({ $0 }) {
            let next = launch()
            spare.withLock { $0 = next }
        }
        try await worker.perform(job)
    }

    /// Stops the spare (at shutdown).
    package func shutdown() {
        shutDown.withLock { $0 = true }
        spare.withLock { $0.take() }?.cancel()
    }

    /// One job for a worker process.
    struct Job: Sendable {
        let input: [UInt8]
        let renditions: Int
        let onOutput: @Sendable (Int, [UInt8]) async throws -> Void
    }

    /// A started worker process waiting for its one job.
    final class Spare: Sendable {
        private let jobs: AsyncStream<(Job, CheckedContinuation<Void, any Error>)>.Continuation
        private let task: Task<Void, Never>

        init(
            jobs: AsyncStream<(Job, CheckedContinuation<Void, any Error>)>.Continuation, task: Task<Void, Never>
        ) {
            self.jobs = jobs
            self.task = task
        }

        func perform(_ job: Job) async throws {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    if case .terminated = jobs.yield((job, continuation)) {
                        continuation.resume(throwing: TranscodeFailure.worker("the transcode worker stopped before its job"))
                    }
                    jobs.finish()
                }
            } onCancel: {
                self.task.cancel()
            }
        }

        func cancel() {
            jobs.finish()
            task.cancel()
        }
    }

    /// Starts a worker process that waits for one job.
    private func launch() -> Spare {
        let (jobs, continuation) = AsyncStream.makeStream(of: (Job, CheckedContinuation<Void, any Error>).self)
        let executable = executable, timeout = timeout, memoryLimit = memoryLimit
        let task = Task {
            let watch = Watch()
            let cpuSeconds = max(Int(Double(timeout.components.seconds) * 2), 1)
            do {
                let status = try await Subprocess.run(
                    .path(FilePath(executable)),
                    arguments: ["transcode-worker", "--memory-limit", String(memoryLimit), "--cpu-seconds", String(cpuSeconds)],
                    environment: .inherit.updating(["MALLOC_ARENA_MAX": "2"]),
                    input: .inputWriter,
                    output: .sequence,
                    error: .sequence
                ) { execution in
                    // Idle until the job (or cancellation: the edge is stopping).
                    var iterator = jobs.makeAsyncIterator()
                    guard let (job, reply) = await iterator.next() else { return }
                    watch.reply.withLock { $0 = reply }
                    try await Self.serve(job, execution: execution, timeout: timeout, watch: watch)
                }.terminationStatus
                watch.finish(Self.verdict(status: status, watch: watch, timeout: timeout))
            } catch let failure as TranscodeFailure {
                watch.finish(.failure(failure))
            } catch {
                watch.finish(.failure(TranscodeFailure.worker("cannot run the transcode worker \(executable): \(error)")))
            }
        }
        return Spare(jobs: continuation, task: task)
    }

    /// Feeds the job to the process and reads its frames until its output ends.
    private static func serve(
        _ job: Job, execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>, timeout: Duration, watch: Watch
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // A worker that dies early closes its end; the write then fails and the outcome
                // (or the exit status) says why.
                _ = try? await execution.standardInputWriter.write(job.input)
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
                        guard Int(frame.tag) < job.renditions else {
                            throw TranscodeFailure.worker("the worker sent output for rendition \(frame.tag) of \(job.renditions)")
                        }
                        try await job.onOutput(Int(frame.tag), frame.payload)
                    }
                }
            }
            // Standard output is closed: the worker is done (or dead). Wait for the writer and
            // the error reader, then stop the timer.
            var finished = 0
            while finished < 2, (try await group.next()) != nil { finished += 1 }
            group.cancelAll()
        }
    }

    /// What the exit status and the last frame say.
    private static func verdict(status: TerminationStatus, watch: Watch, timeout: Duration) -> Result<Void, TranscodeFailure> {
        if watch.timedOut.withLock({ $0 }) {
            return .failure(.timedOut("the transcode took longer than \(timeout) and was stopped"))
        }
        if let final = watch.outcome.withLock({ $0 }) {
            if let error = final.error { return .failure(final.inputProblem ? .input(error) : .worker(error)) }
            if case .exited(0) = status { return .success(()) }
        }
        let tail = watch.stderrTail.withLock { $0 }.split(separator: "\n").last.map(String.init) ?? ""
        let detail = tail.isEmpty ? "" : ": \(tail)"
        switch status {
        case .exited(let code):
            return .failure(.worker("the transcode worker exited with status \(code) without finishing\(detail)"))
        case .signaled(let signal):
            let reason = signal == 9 ? "killed" : signal == 11 ? "crashed (SIGSEGV)" : signal == 6 ? "aborted (out of memory?)" : "stopped by signal \(signal)"
            return .failure(.worker("the transcode worker \(reason)\(detail)"))
        }
    }

    /// What the tasks watching one worker learn, shared between them, and the caller to answer.
    private final class Watch: Sendable {
        let outcome = Mutex<TranscodeOutcome?>(nil)
        let stderrTail = Mutex("")
        let timedOut = Mutex(false)
        let reply = Mutex<CheckedContinuation<Void, any Error>?>(nil)

        /// Answers the job's caller once (a spare that never got a job has nobody to answer).
        func finish(_ result: Result<Void, TranscodeFailure>) {
            reply.withLock { $0.take() }?.resume(with: result.mapError { $0 as any Error })
        }
    }
}
