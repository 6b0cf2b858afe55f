import Foundation
import Synchronization

/// What a live file is, for where it goes.
package enum LiveFileKind: Sendable {
    case part, segment, playlist, master, manifest
}

/// Somewhere a live title's files go as they are made: the local folder, a hosting edge.
/// Paths are relative to the title (`720p/12.3.ts`).
package protocol LiveDestination: AnyObject, Sendable {
    /// Stores `bytes` as `path`; a playlist replaces the one before it whole. `entered`: when a
    /// part's first frame entered the ingest (for the latency to each destination).
    func put(_ path: String, _ bytes: [UInt8], kind: LiveFileKind, entered: Date?)
    /// A part begins: its ciphertext follows in ``appendPart(_:_:)`` as it is made (whole AES
    /// blocks), then ``endPart(_:_:entered:)``. `entered` as for ``put(_:_:kind:entered:)``.
    func beginPart(_ path: String, entered: Date?)
    /// More of the part begun as `path`.
    func appendPart(_ path: String, _ bytes: [UInt8])
    /// The part is complete; `whole` is all of it (what was appended and the rest, which was
    /// appended just before). A destination that was not given the beginning stores `whole`.
    func endPart(_ path: String, _ whole: [UInt8], entered: Date?)
    /// Forgets a file that left every playlist.
    func delete(_ path: String)
    /// Waits until everything put so far has been stored or has failed.
    func drain() async
}

extension LiveDestination {
    /// A destination that takes parts whole ignores their growth and stores each when it ends.
    package func beginPart(_ path: String, entered: Date?) {}
    package func appendPart(_ path: String, _ bytes: [UInt8]) {}
    package func endPart(_ path: String, _ whole: [UInt8], entered: Date?) { put(path, whole, kind: .part, entered: entered) }
}

/// The title's folder on this machine (`DIR/{id}`): every file written to a temporary name and
/// renamed into place, so a reader never sees half a playlist or half a part.
package final class LiveFolder: LiveDestination {
    package let root: String
    private let failures = Mutex<[String]>([])

    package init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// What could not be written, in order.
    package var failed: [String] { failures.withLock { $0 } }

    package func put(_ path: String, _ bytes: [UInt8], kind: LiveFileKind, entered: Date?) {
        let destination = root + "/" + path
        let temporary = destination + ".partial"
        let directory = (destination as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)), rename(temporary, destination) == 0 else {
            unlink(temporary)
            failures.withLock { $0.append("cannot write \(destination): \(String(cString: strerror(errno)))") }
            return
        }
    }

    package func delete(_ path: String) { unlink(root + "/" + path) }

    package func drain() async {}
}

/// How long parts took from entering the ingest to being stored, per destination.
package final class LiveLatency: Sendable {
    private let samples = Mutex<[String: [Double]]>([:])

    package init() {}

    package func record(_ destination: String, seconds: Double) {
        samples.withLock { $0[destination, default: []].append(seconds) }
    }

    /// Median and 99th percentile in seconds, and how many parts, per destination.
    package func summary() -> [(destination: String, count: Int, median: Double, p99: Double)] {
        samples.withLock { samples in
            samples.keys.sorted().compactMap { name in
                let sorted = samples[name]!.sorted()
                guard !sorted.isEmpty else { return nil }
                let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
                return (name, sorted.count, sorted[sorted.count / 2], p99)
            }
        }
    }
}
