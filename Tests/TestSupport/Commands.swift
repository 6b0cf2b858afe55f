import Dispatch
import Foundation

/// What a finished command said.
public struct CommandResult: Sendable {
    public let status: Int32
    public let data: Data
    /// Standard output (and standard error, when `mergeErrors`) as text.
    public var output: String { String(decoding: data, as: UTF8.self) }
}

/// Runs a command on a Dispatch thread, never blocking Swift's cooperative pool (which servers
/// under test in the same process share), and returns its status and output.
@discardableResult
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, mergeErrors: Bool = true) async throws -> CommandResult {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try runBlocking(executable, arguments, environment: environment, mergeErrors: mergeErrors) })
        }
    }
}

/// Runs a command and waits for it on the calling thread.
public func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, mergeErrors: Bool = true) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = mergeErrors ? pipe : FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, data: data)
}
