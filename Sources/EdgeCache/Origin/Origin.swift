import NIOCore

/// What an origin says about an object before its bytes.
package struct OriginHead: Sendable {
    /// Offset of the first body byte that follows (0 unless a resumed range was honoured).
    package var offset: Int
    /// The whole object's length, if the origin said.
    package var totalLength: Int?
    /// When the object last changed, seconds since 1970, if the origin said.
    package var lastModified: Int64?
    /// SHA-256 of the whole object, if the origin vouched for one (`Repr-Digest`, a manifest).
    package var sha256: [UInt8]?
    /// Whether the body's end is marked (a length, chunked coding, an HTTP/2 stream, a file):
    /// false for an HTTP/1 body that ends when the connection closes, which a cut connection
    /// ends too. Such a body is stored only when ``sha256`` vouches for it.
    package var endIsMarked: Bool

    package init(offset: Int = 0, totalLength: Int?, lastModified: Int64? = nil, sha256: [UInt8]? = nil, endIsMarked: Bool = true) {
        self.offset = offset
        self.totalLength = totalLength
        self.lastModified = lastModified
        self.sha256 = sha256
        self.endIsMarked = endIsMarked
    }
}

/// A place the edge fills misses from: an origin server, a local folder, another edge.
///
/// An origin is a content root: `key` maps to `{root}/{content}/{path}`.
package protocol Origin: Sendable, CustomStringConvertible {
    /// Streams `key` from `offset` on (an origin may ignore the offset and start at 0; the head
    /// says where it starts). Calls `onHead` once, then `onChunk` for each piece in order.
    /// - Throws: ``OriginError``, or whatever the callbacks throw.
    func fetch(
        _ key: CacheKey,
        from offset: Int,
        onHead: (OriginHead) async throws -> Void,
        onChunk: (ByteBuffer) async throws -> Void
    ) async throws

    /// Whether a failure marks this origin down for a while (tried last). An origin that fails
    /// over between many servers itself (the hosts of a title) is never marked down for one
    /// server's failure.
    var isMarkedDownOnFailure: Bool { get }
}

extension Origin {
    package var isMarkedDownOnFailure: Bool { true }
}

/// An origin that makes some objects itself (a transcoder making renditions) instead of
/// fetching them. The cache asks it first; for a key it produces, no upstream is tried.
package protocol Producer: Origin {
    /// True when this producer makes `key` (cheap: called on every miss).
    func produces(_ key: CacheKey) -> Bool
}

/// Why an origin could not deliver an object.
package struct OriginError: Error, CustomStringConvertible {
    package enum Code: Sendable {
        case notFound
        case unavailable
        case timedOut
        case invalid
        /// A producer failed to make the object (its message says why).
        case production
    }
    package let code: Code
    package let message: String

    package static func notFound(_ what: String) -> Self { .init(code: .notFound, message: "\(what): not found") }
    package static func unavailable(_ what: String) -> Self { .init(code: .unavailable, message: what) }
    package static func timedOut(_ what: String) -> Self { .init(code: .timedOut, message: what) }
    package static func invalid(_ what: String) -> Self { .init(code: .invalid, message: what) }
    package static func production(_ what: String) -> Self { .init(code: .production, message: what) }

    package var description: String { message }
}
