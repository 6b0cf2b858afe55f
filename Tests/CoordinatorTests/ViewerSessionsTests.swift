import Testing

@testable import Coordinator

@Suite("Viewer sessions: failure reports, suspects and bounds")
struct ViewerSessionsTests {
    @Test("a session's report counts once per edge; suspects need distinct sessions within the window, then age out")
    func reportsAndSuspects() {
        let sessions = ViewerSessions()
        sessions.remember(session: "s1", content: "t", edges: ["a", "b", "c"])
        #expect(sessions.session("s1")?.edges == ["a", "b", "c"])
        #expect(sessions.reportFailure(session: "s1", content: "t", edge: "a", reason: "media error 2", now: 100))
        #expect(!sessions.reportFailure(session: "s1", content: "t", edge: "a", reason: "again", now: 101), "the same session counts once")
        #expect(sessions.session("s1")?.failed == ["a"])
        #expect(sessions.reports(for: "a", now: 101) == .init(recent: 1, total: 1, lastReason: "media error 2"))
        #expect(sessions.demotingSuspects(["a", "b", "c"], now: 101) == ["a", "b", "c"], "one session makes no suspect")
        #expect(sessions.reportFailure(session: "s2", content: "t", edge: "a", reason: "stall", now: 110))
        #expect(sessions.reportFailure(session: "s3", content: "t", edge: "a", reason: "stall", now: 120))
        #expect(sessions.demotingSuspects(["a", "b", "c"], now: 121) == ["b", "c", "a"])
        #expect(sessions.anyRecentReports(now: 121))
        // The first report leaves the 60 s window at 161: two sessions remain, no suspect.
        #expect(sessions.reports(for: "a", now: 161).recent == 2)
        #expect(sessions.demotingSuspects(["a", "b", "c"], now: 161) == ["a", "b", "c"])
        #expect(sessions.reports(for: "a", now: 200) == .init(recent: 0, total: 3, lastReason: "stall"))
        #expect(!sessions.anyRecentReports(now: 200))
    }

    @Test("at most maxSessions sessions are remembered, the oldest forgotten first; reports kept per edge are bounded")
    func bounded() {
        var policy = ViewerSessions.Policy()
        policy.maxSessions = 3
        policy.maxReportsPerEdge = 2
        let sessions = ViewerSessions(policy: policy)
        for index in 0..<5 { sessions.remember(session: "s\(index)", content: "t", edges: ["a"]) }
        #expect(sessions.session("s0") == nil && sessions.session("s1") == nil)
        #expect(sessions.session("s4")?.edges == ["a"])
        for index in 0..<4 { sessions.reportFailure(session: "r\(index)", content: "t", edge: "a", reason: "x", now: 10) }
        #expect(sessions.reports(for: "a", now: 10).recent == 2)
        #expect(sessions.reports(for: "a", now: 10).total == 4)
        #expect(sessions.session("s4") == nil, "reporting sessions count against the bound too")
    }
}
