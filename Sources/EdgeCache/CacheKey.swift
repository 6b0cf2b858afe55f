/// The name of one cached object: a content id and a path inside that content.
///
/// Keys are validated where they are made, so nothing downstream ever sees a path that could
/// escape a folder: the content id and every path segment are made of `[A-Za-z0-9._~-]`, are never
/// `.` or `..`, and the whole key stays short.
package struct CacheKey: Hashable, Sendable, CustomStringConvertible {
    /// The content id, such as `big-buck-bunny`: the group every rendition and segment belongs to.
    package let content: String
    /// The path inside the content, such as `720p/12.ts` or `master.m3u8`.
    package let path: String

    /// The longest content id accepted.
    package static let maxContentLength = 128
    /// The longest path accepted.
    package static let maxPathLength = 512
    /// The most path segments accepted.
    package static let maxDepth = 8

    /// Makes a key after checking both parts.
    /// - Throws: ``CacheKeyError`` naming what was wrong.
    package init(content: String, path: String) throws(CacheKeyError) {
        guard !content.isEmpty, content.utf8.count <= Self.maxContentLength else {
            throw .invalidContent(content, reason: "must be 1 to \(Self.maxContentLength) characters")
        }
        guard Self.isSafeSegment(content) else {
            throw .invalidContent(content, reason: "may contain only letters, digits, '.', '_', '~' and '-', and must not be '.' or '..'")
        }
        guard !path.isEmpty, path.utf8.count <= Self.maxPathLength else {
            throw .invalidPath(path, reason: "must be 1 to \(Self.maxPathLength) characters")
        }
        // One pass over the bytes (this runs for every request): segments between slashes must
        // be non-empty, safe, and not `.` or `..`.
        var segments = 1
        var segmentLength = 0
        var dotsOnly = true
        for byte in path.utf8 {
            if byte == UInt8(ascii: "/") {
                guard segmentLength > 0, !(dotsOnly && segmentLength <= 2) else { throw Self.badSegments(path) }
                segments += 1
                segmentLength = 0
                dotsOnly = true
                continue
            }
            guard Self.isSafe(byte) else { throw Self.badSegments(path) }
            segmentLength += 1
            if byte != UInt8(ascii: ".") { dotsOnly = false }
        }
        guard segmentLength > 0, !(dotsOnly && segmentLength <= 2) else { throw Self.badSegments(path) }
        guard segments <= Self.maxDepth else {
            throw .invalidPath(path, reason: "has more than \(Self.maxDepth) segments")
        }
        self.content = content
        self.path = path
    }

    /// `content/path`, the key as it appears after `/v/` in a URL and under an upstream root.
    package var description: String { "\(content)/\(path)" }

    /// The file extension of the path, lowercased, without the dot (`ts`, `m3u8`), or "" if none.
    package var fileExtension: String {
        // Runs for every request: scan back from the end for the dot, stopping at a slash.
        let utf8 = path.utf8
        var index = utf8.endIndex
        while index > utf8.startIndex {
            let previous = utf8.index(before: index)
            switch utf8[previous] {
            case UInt8(ascii: "."):
                let ext = Substring(path.utf8[index...])
                return ext.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? ext.lowercased() : String(ext)
            case UInt8(ascii: "/"):
                return ""
            default:
                index = previous
            }
        }
        return ""
    }

    static func isSafeSegment(_ segment: some StringProtocol) -> Bool {
        if segment == "." || segment == ".." { return false }
        return segment.utf8.allSatisfy(isSafe)
    }

    static func isSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "-"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// Names the first offending segment (the slow path, only for refused keys).
    private static func badSegments(_ path: String) -> CacheKeyError {
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return .invalidPath(path, reason: "has an empty segment ('//', or a leading or trailing '/')") }
            if !isSafeSegment(segment) {
                return .invalidPath(path, reason: "segment '\(segment)' may contain only letters, digits, '.', '_', '~' and '-', and must not be '.' or '..'")
            }
        }
        return .invalidPath(path, reason: "is not a valid path")
    }
}

/// Why a content id or path was refused.
package struct CacheKeyError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable {
        case content(String)
        case path(String)
    }
    private let code: Code
    /// What was wrong, in words a client can act on.
    package let reason: String

    static func invalidContent(_ value: String, reason: String) -> Self {
        .init(code: .content(value), reason: reason)
    }
    static func invalidPath(_ value: String, reason: String) -> Self {
        .init(code: .path(value), reason: reason)
    }

    package var description: String {
        switch code {
        case .content(let value): "invalid content id '\(value.prefix(64))': \(reason)"
        case .path(let value): "invalid path '\(value.prefix(128))': \(reason)"
        }
    }
}
