import Foundation
import TestSupport

/// A `depin coordinator` child process on a random loopback port; `stop()` ends it.
final class CoordinatorProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched from the test that owns this object.
    let process = Process()
    let port: Int
    /// The HTTPS listener's port, when started with `--listen`.
    let httpsPort: Int?
    let logPath: String
    static let adminToken = "test-admin-token-0123456789"

    var base: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private init(arguments: [String], descriptorLimit: Int?) throws {
        // Capacity probes only where a test checks them: they take every core for seconds, and
        // the test edges all claim 8 cores of this machine.
        process.runDepin(
            ["coordinator", "--http-listen", "127.0.0.1:0"] + arguments + (arguments.contains("--probe-interval") ? [] : ["--probe-interval", "0"]),
            descriptorLimit: descriptorLimit)
        var environment = ProcessInfo.processInfo.environment
        environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] = Self.adminToken
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        logPath = NSTemporaryDirectory() + "depin-coordinator-\(UUID()).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        var buffer = ""
        var found: Int?
        var https: Int?
        let wantsHTTPS = arguments.contains("--listen")
        while found == nil || (wantsHTTPS && https == nil) {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            buffer += String(decoding: data, as: UTF8.self)
            let lines = buffer.split(separator: "\n")
            if let line = lines.first(where: { $0.hasPrefix("listening on http://") }) { found = Int(line.split(separator: ":").last!) }
            if let line = lines.first(where: { $0.hasPrefix("listening on https://") }) { https = Int(line.split(separator: ":").last!) }
        }
        httpsPort = https
        guard let found else {
            process.terminate()
            throw ToolError("coordinator did not start: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
        }
        port = found
    }

    /// Starts the coordinator; with `descriptorLimit`, under that open-file limit (soft and hard).
    static func start(_ arguments: [String], descriptorLimit: Int? = nil) async throws -> CoordinatorProcess {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try CoordinatorProcess(arguments: arguments, descriptorLimit: descriptorLimit) })
            }
        }
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }
}
