import DePINProtocol
import TestSupport
import Testing

@testable import Coordinator

@Suite("Session totals as the store supplies them: a store only this coordinator writes is remembered")
struct SessionTotalsSourceTests {
    static func ready(session: UInt128, id: UInt128, issued: Int64) -> ClaimBook.Prepared {
        let claim = DeliveryClaim(
            id: id.hex, content: "title", session: "\(issued)-s\(session)", bytes: 1, segments: 1, ttfbMilliseconds: 1, firstAt: issued,
            lastAt: issued)
        let body = DeliveryReceipt.Body(claim: claim, node: "edge-a", acceptedAt: issued)
        return .ready(body, issued: issued, key: ClaimBook.ClaimKey(session: session, id: id), leaf: body.leafDigest)
    }

    @Test("SQLite: what a round stored is known without reading, sessions issued after the newest stored one are not read")
    func cachedForAnExclusiveStore() async throws {
        let dir = TemporaryDirectory("session-totals")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let source = store.sessionTotalsSource()
        #expect(source is CachedSessionTotals)
        let round = [[Self.ready(session: 7, id: 1, issued: 1_700_000_000)]]
        // The store is empty: the watermark is read, and nothing after it is read in full.
        let reads = try await source.reading(round, claimInFlight: { _ in false }, sessionInFlight: { _ in false })()
        #expect(reads.watermark == .min && reads.complete.isEmpty && reads.sessions.isEmpty)
        source.loaded(reads, sessionInFlight: { _ in false })
        #expect(source.delivered(7) == nil && !source.isStored(ClaimBook.ClaimKey(session: 7, id: 1)))
        // A round's write landed: it is known from memory from now on.
        source.stored([7: ClaimBook.SessionWrite(delivered: ClaimBook.Delivered(bytes: 100, edges: ["edge-a"]), added: [1], issued: 1_700_000_000)])
        let next = try await source.reading(round, claimInFlight: { _ in false }, sessionInFlight: { _ in false })()
        #expect(next.watermark == nil && next.complete.isEmpty)
        source.loaded(next, sessionInFlight: { _ in false })
        #expect(source.delivered(7) == ClaimBook.Delivered(bytes: 100, edges: ["edge-a"]))
        #expect(source.isStored(ClaimBook.ClaimKey(session: 7, id: 1)) && !source.isStored(ClaimBook.ClaimKey(session: 7, id: 2)))
        try await store.close()
    }
}
