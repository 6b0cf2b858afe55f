import DePINProtocol
@testable import Edge
import Testing

@Suite("DeliveryLedger: claims by session, audience by title")
struct DeliveryLedgerTests {
    @Test("each title's distinct sessions are counted between heartbeats, the largest kept, apart from the claims")
    func audience() {
        let ledger = DeliveryLedger()
        for (content, session) in [("show", "a"), ("show", "a"), ("show", "b"), ("talk", "a"), ("quiet", "z")] {
            ledger.record(content: content, session: session, bytes: 100, segment: true, ttfb: .milliseconds(5))
        }
        ledger.record(content: "none", session: "n", bytes: 0, segment: true, ttfb: .zero)  // nothing delivered: not a viewer
        #expect(ledger.drainAudience(limit: 2) == ["show": 2, "quiet": 1])  // ties: by id
        #expect(ledger.drainAudience().isEmpty)
        // Claims are drained on their own clock: all four sessions' bytes are still there.
        #expect(ledger.drain().map { "\($0.content)/\($0.session)/\($0.bytes)" } == ["quiet/z/100", "show/a/200", "show/b/100", "talk/a/100"])
        ledger.record(content: "show", session: "c", bytes: 1, segment: false, ttfb: .zero)
        #expect(ledger.drainAudience() == ["show": 1])
    }
}
