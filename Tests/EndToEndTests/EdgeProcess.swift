import Foundation
import TestSupport

/// The repository's root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The built `depin` program: `DEPIN_BINARY`, or `.build/debug/depin`.
let depinBinary = ProcessInfo.processInfo.environment["DEPIN_BINARY"] ?? repositoryRoot.appendingPathComponent(".build/debug/depin").path

extension Process {
    /// Makes this process `depin` with `arguments`; with `descriptorLimit`, run through
    /// `prlimit` under that open-file limit (soft and hard; `prlimit` execs, so the pid is depin's).
    func runDepin(_ arguments: [String], descriptorLimit: Int?) {
        if let descriptorLimit {
            executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            self.arguments = ["--nofile=\(descriptorLimit):\(descriptorLimit)", depinBinary] + arguments
        } else {
            executableURL = URL(fileURLWithPath: depinBinary)
            self.arguments = arguments
        }
    }
}

/// A `depin edge` child process on loopback with random ports; killed by `stop()` if still running.
final class EdgeProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched from the test that owns this object.
    let process = Process()
    let https: Int
    let http: Int
    let stderrPath: String

    /// Starts the edge and waits for its "listening on" lines.
    /// With `descriptorLimit`, it runs under that open-file limit (soft and hard).
    init(arguments: [String], environment: [String: String] = [:], descriptorLimit: Int? = nil) throws {
        process.runDepin(["edge", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"] + arguments, descriptorLimit: descriptorLimit)
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DEPIN_EDGE_") }
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        stderrPath = NSTemporaryDirectory() + "depin-edge-\(UUID()).log"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
        var ports: [String: Int] = [:]
        var buffer = ""
        let handle = out.fileHandleForReading
        while ports.count < 2 {
            let data = handle.availableData
            if data.isEmpty { break }
            buffer += String(decoding: data, as: UTF8.self)
            for line in buffer.split(separator: "\n") where line.hasPrefix("listening on ") {
                let url = line.dropFirst("listening on ".count)
                let scheme = String(url.prefix { $0 != ":" })
                ports[scheme] = Int(url.split(separator: ":").last!)
            }
        }
        guard let https = ports["https"], let http = ports["http"] else {
            process.terminate()
            let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw EdgeProcessError(message: "edge did not start: \(log)")
        }
        self.https = https
        self.http = http
    }

    /// Starts the edge from a Dispatch thread, so waiting for it never blocks the cooperative pool.
    static func start(arguments: [String], environment: [String: String] = [:], descriptorLimit: Int? = nil) async throws -> EdgeProcess {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try EdgeProcess(arguments: arguments, environment: environment, descriptorLimit: descriptorLimit) })
            }
        }
    }

    var httpBase: String { "http://127.0.0.1:\(http)" }
    var httpsBase: String { "https://127.0.0.1:\(https)" }
    var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func kill(_ signal: Int32) {
        Foundation.kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit (up to `seconds`) and returns its status, or nil.
    func waitForExit(seconds: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: stderrPath)
    }
}

struct EdgeProcessError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
