import HTTPTypes
import Testing

@testable import Coordinator

@Suite("Per-address rate limits")
struct ClientRateLimiterTests {
    @Test("a burst, then the rate: refused requests say when to come back; addresses do not share buckets; 0 is off")
    func tokenBuckets() {
        let limiter = ClientRateLimiter(policy: .init(rate: 2, burst: 3))
        let start = ContinuousClock.now
        for _ in 0..<3 { #expect(limiter.admit("10.0.0.1", now: start) == nil) }
        #expect(limiter.admit("10.0.0.1", now: start) == 1, "over the burst: come back in a second")
        #expect(limiter.admit("10.0.0.2", now: start) == nil, "another address has its own bucket")
        #expect(limiter.admit("10.0.0.1", now: start + .milliseconds(500)) == nil, "half a second at 2/s earns one request")
        #expect(limiter.admit("10.0.0.1", now: start + .milliseconds(500)) != nil)
        #expect(limiter.admit("10.0.0.1", now: start + .seconds(60)) == nil, "refilled, up to the burst")
        let off = ClientRateLimiter(policy: .init(rate: 0, burst: 1))
        for _ in 0..<1000 { #expect(off.admit("10.0.0.1", now: start) == nil) }
        #expect(ClientRateLimiter.isLimited(.get, "/v1/route") && ClientRateLimiter.isLimited(.get, "/v1/hls-key/t"))
        #expect(ClientRateLimiter.isLimited(.post, "/v1/nodes") && !ClientRateLimiter.isLimited(.post, "/v1/heartbeat"))
        #expect(!ClientRateLimiter.isLimited(.get, "/v1/pathways/t") && !ClientRateLimiter.isLimited(.post, "/v1/claims"))
    }

    @Test("at most maxClients addresses are tracked, the oldest forgotten first")
    func bounded() {
        var policy = ClientRateLimiter.Policy(rate: 1, burst: 1)
        policy.maxClients = 10
        let limiter = ClientRateLimiter(policy: policy)
        let now = ContinuousClock.now
        for index in 0..<100 { _ = limiter.admit("10.0.\(index / 256).\(index % 256)", now: now) }
        #expect(limiter.clients == 10)
    }
}
