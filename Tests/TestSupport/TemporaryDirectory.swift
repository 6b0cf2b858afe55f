import Dispatch
import Foundation

/// A fresh folder under the system's temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ name: String = "edgecache") {
        path = NSTemporaryDirectory() + "depin-\(name)-\(UInt64.random(in: 0...UInt64.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func write(_ relative: String, _ bytes: [UInt8]) {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full, contents: Data(bytes))
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Deterministic pseudo-random bytes, so contents differ per object and compare exactly.
public func patternBytes(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var x = UInt32(seed) &* 2_654_435_761 | 1
    for i in 0..<count {
        x ^= x << 13
        x ^= x >> 17
        x ^= x << 5
        out[i] = UInt8(truncatingIfNeeded: x)
    }
    return out
}

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
