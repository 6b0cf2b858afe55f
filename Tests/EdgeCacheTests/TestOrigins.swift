import NIOCore
import Synchronization

@testable import EdgeCache

/// Wraps a real ``FileOrigin`` to count fetches, slow it down, cut it off, or make it vouch
/// for a wrong digest: the failures a real network gives at random, made repeatable.
final class InstrumentedOrigin: Origin {
    let inner: FileOrigin
    let fetches = Atomic<Int>(0)
    /// Stop with an error after sending this many bytes in one fetch.
    let failAfter: Int?
    /// Pause this long before each chunk.
    let delay: Duration
    /// Claim this SHA-256 in the head.
    let vouch: [UInt8]?
    /// Cut off only the first fetch (an origin that fails over inside itself, then succeeds).
    let failOnlyFirst: Bool
    let isMarkedDownOnFailure: Bool

    init(
        root: String, chunkSize: Int = 64 * 1024, failAfter: Int? = nil, delay: Duration = .zero, vouch: [UInt8]? = nil,
        failOnlyFirst: Bool = false, marksDown: Bool = true
    ) {
        self.failOnlyFirst = failOnlyFirst
        self.isMarkedDownOnFailure = marksDown
        var origin = FileOrigin(root: root)
        origin.chunkSize = chunkSize
        self.inner = origin
        self.failAfter = failAfter
        self.delay = delay
        self.vouch = vouch
    }

    var description: String { "instrumented(\(inner))" }

    func fetch(
        _ key: CacheKey, from offset: Int, onHead: (OriginHead) async throws -> Void, onChunk: (ByteBuffer) async throws -> Void
    ) async throws {
        let number = fetches.add(1, ordering: .relaxed).newValue
        let failAfter = failOnlyFirst && number > 1 ? nil : self.failAfter
        var sent = 0
        try await inner.fetch(key, from: offset) { head in
            var head = head
            if let vouch { head.sha256 = vouch }
            try await onHead(head)
        } onChunk: { chunk in
            if delay > .zero { try await Task.sleep(for: delay) }
            var chunk = chunk
            if let failAfter {
                if sent >= failAfter { throw OriginError.unavailable("instrumented: cut off after \(sent) bytes") }
                if let slice = chunk.readSlice(length: min(chunk.readableBytes, failAfter - sent)) { chunk = slice }
            }
            sent += chunk.readableBytes
            try await onChunk(chunk)
        }
    }
}
