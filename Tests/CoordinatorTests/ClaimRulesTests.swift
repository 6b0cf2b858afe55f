import DePINProtocol
import Testing

@testable import Coordinator

@Suite("Claim rules: edges, size and rate caps and a session's life, without a store")
struct ClaimRulesTests {
    /// A 20 MB title at 1 Mbit/s peak, as ClaimBookTests uses.
    static let title = ClaimRules.Title(bytes: 20_000_000, bitrate: 1_000_000)
    static let issued: Int64 = 1_700_000_000

    static func claim(bytes: Int64, firstAt: Int64 = issued + 100, lastAt: Int64 = issued + 3000, session: String = "s") -> DeliveryClaim {
        DeliveryClaim(id: "c", content: "title", session: session, bytes: bytes, segments: 1, ttfbMilliseconds: 20, firstAt: firstAt, lastAt: lastAt)
    }

    @Test("an accepted claim adds its bytes and its edge, kept sorted and once")
    func accepts() {
        let rules = ClaimRules()
        let before = ClaimBook.Delivered(bytes: 1_000, edges: ["edge-b"])
        #expect(
            rules.admit(Self.claim(bytes: 500), from: "edge-a", issued: Self.issued, delivered: before, title: Self.title)
                == .accept(ClaimBook.Delivered(bytes: 1_500, edges: ["edge-a", "edge-b"])))
        #expect(
            rules.admit(Self.claim(bytes: 500), from: "edge-b", issued: Self.issued, delivered: before, title: Self.title)
                == .accept(ClaimBook.Delivered(bytes: 1_500, edges: ["edge-b"])))
    }

    @Test("a session takes at most maxEdgesPerSession edges; one already serving it may go on")
    func edges() {
        var policy = ClaimBook.Policy()
        policy.maxEdgesPerSession = 2
        let rules = ClaimRules(policy: policy)
        let full = ClaimBook.Delivered(bytes: 10, edges: ["edge-a", "edge-b"])
        #expect(
            rules.admit(Self.claim(bytes: 1), from: "edge-c", issued: Self.issued, delivered: full, title: Self.title)
                == .refuse("session s already has 2 edges delivering it (at most 2)"))
        #expect(
            rules.admit(Self.claim(bytes: 1), from: "edge-a", issued: Self.issued, delivered: full, title: Self.title)
                == .accept(ClaimBook.Delivered(bytes: 11, edges: ["edge-a", "edge-b"])))
    }

    @Test("all edges together deliver a session at most bytesFactor times the title: exactly the cap passes, a byte more does not")
    func sizeCap() {
        let rules = ClaimRules()
        let before = ClaimBook.Delivered(bytes: 1_000_000, edges: ["edge-a"])
        #expect(
            rules.admit(Self.claim(bytes: 59_000_000), from: "edge-a", issued: Self.issued, delivered: before, title: Self.title)
                == .accept(ClaimBook.Delivered(bytes: 60_000_000, edges: ["edge-a"])))
        #expect(
            rules.admit(Self.claim(bytes: 59_000_001), from: "edge-a", issued: Self.issued, delivered: before, title: Self.title)
                == .refuse("session s would have 60000001 bytes; at most 60000000 (3.0 x the title's 20000000)"))
    }

    @Test("no faster than playback: peak bitrate over the session's wall time plus the buffer, times the factor")
    func rateCap() {
        let rules = ClaimRules()
        // 1 Mbit/s over (0 + 120) s, times 3: 45 MB.
        let young = Self.claim(bytes: 45_000_000, firstAt: Self.issued, lastAt: Self.issued)
        #expect(
            rules.admit(young, from: "edge-a", issued: Self.issued, delivered: .init(), title: Self.title)
                == .accept(ClaimBook.Delivered(bytes: 45_000_000, edges: ["edge-a"])))
        let over = Self.claim(bytes: 45_000_001, firstAt: Self.issued, lastAt: Self.issued)
        #expect(
            rules.admit(over, from: "edge-a", issued: Self.issued, delivered: .init(), title: Self.title)
                == .refuse("session s would have 45000001 bytes 0 s after it began; playback allows at most 45000000"))
        // A claim that ends before its session was issued counts no wall time.
        let early = Self.claim(bytes: 50_000_000, firstAt: Self.issued - 200, lastAt: Self.issued - 100)
        #expect(
            rules.admit(early, from: "edge-a", issued: Self.issued, delivered: .init(), title: Self.title)
                == .refuse("session s would have 50000000 bytes 0 s after it began; playback allows at most 45000000"))
    }

    @Test("the rules apply in order: edges, then size, then rate")
    func order() {
        var policy = ClaimBook.Policy()
        policy.maxEdgesPerSession = 1
        let rules = ClaimRules(policy: policy)
        let over = Self.claim(bytes: 100_000_000, firstAt: Self.issued, lastAt: Self.issued)
        let served = ClaimBook.Delivered(bytes: 0, edges: ["edge-a"])
        guard case .refuse(let edges) = rules.admit(over, from: "edge-b", issued: Self.issued, delivered: served, title: Self.title),
            case .refuse(let size) = rules.admit(over, from: "edge-a", issued: Self.issued, delivered: served, title: Self.title)
        else {
            Issue.record("an oversized claim was accepted")
            return
        }
        #expect(edges.contains("already has 1 edges") && size.contains("at most 60000000"))
    }

    @Test("before its turn: implausible numbers, and times outside the session's life, are refused; the edges of its life pass")
    func beforeTurn() {
        let rules = ClaimRules()
        let now = Self.issued + 3000
        #expect(rules.refusal(Self.claim(bytes: 1), issued: Self.issued, at: now) == nil)
        let implausible = "bytes must be positive, segments and ttfbMilliseconds plausible, firstAt not after lastAt"
        #expect(rules.refusal(Self.claim(bytes: 0), issued: Self.issued, at: now) == implausible)
        #expect(rules.refusal(Self.claim(bytes: 1, firstAt: now, lastAt: now - 1), issued: Self.issued, at: now) == implausible)
        var segments = Self.claim(bytes: 1)
        segments.segments = 1_000_001
        #expect(rules.refusal(segments, issued: Self.issued, at: now) == implausible)
        var slow = Self.claim(bytes: 1)
        slow.ttfbMilliseconds = 600_001
        #expect(rules.refusal(slow, issued: Self.issued, at: now) == implausible)
        // Skew 300 s either side; the session lives 6 h.
        #expect(rules.refusal(Self.claim(bytes: 1, firstAt: Self.issued - 300), issued: Self.issued, at: now) == nil)
        #expect(
            rules.refusal(Self.claim(bytes: 1, firstAt: Self.issued - 301), issued: Self.issued, at: now)
                == "the claim's times (\(Self.issued - 301) to \(Self.issued + 3000)) fall outside session s's life (issued \(Self.issued))")
        #expect(rules.refusal(Self.claim(bytes: 1, lastAt: now + 300), issued: Self.issued, at: now) == nil)
        #expect(rules.refusal(Self.claim(bytes: 1, lastAt: now + 301), issued: Self.issued, at: now) != nil)
        let end = Self.issued + 6 * 3600 + 300
        #expect(rules.refusal(Self.claim(bytes: 1, lastAt: end), issued: Self.issued, at: end) == nil)
        #expect(rules.refusal(Self.claim(bytes: 1, lastAt: end + 1), issued: Self.issued, at: end + 1) != nil)
    }
}
