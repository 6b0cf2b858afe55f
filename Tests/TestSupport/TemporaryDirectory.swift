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
