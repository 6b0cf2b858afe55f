import Testing

@testable import EdgeCache

/// One conformance suite, run against every policy.
@Suite("Eviction policies")
struct EvictionPolicyTests {
    static let policies: [any EvictionPolicy<Int>.Type] = [S3FIFOPolicy<Int>.self, LRUPolicy<Int>.self]

    @Test("every inserted object is evicted exactly once, removed ones never", arguments: policies)
    func evictsEachOnce(_ type: any EvictionPolicy<Int>.Type) {
        var policy = type.init(capacity: 100)
        for key in 0..<50 { policy.insert(key, size: 10) }
        for key in stride(from: 0, to: 50, by: 5) { policy.recordHit(key) }
        for key in [3, 7, 11] { policy.remove(key) }
        #expect(policy.count == 47)
        var seen: Set<Int> = []
        while let victim = policy.evict() {
            #expect(seen.insert(victim).inserted, "\(victim) evicted twice")
        }
        #expect(seen == Set(0..<50).subtracting([3, 7, 11]))
        #expect(policy.count == 0)
    }

    @Test("a removed then re-inserted key is tracked once", arguments: policies)
    func reinsert(_ type: any EvictionPolicy<Int>.Type) {
        var policy = type.init(capacity: 100)
        policy.insert(1, size: 10)
        policy.remove(1)
        policy.insert(1, size: 10)
        policy.insert(2, size: 10)
        var victims: [Int] = []
        while let victim = policy.evict() { victims.append(victim) }
        #expect(victims.sorted() == [1, 2])
    }

    @Test("the simulator never holds more bytes than the budget", arguments: policies)
    func simulatorRespectsBudget(_ type: any EvictionPolicy<Int>.Type) {
        var parameters = VideoWorkload.Parameters()
        parameters.titles = 50
        parameters.sessions = 300
        parameters.scanTitles = 5
        let workload = VideoWorkload(parameters)
        func run<P: EvictionPolicy<Int>>(_: P.Type) -> CacheSimulator.Result {
            CacheSimulator.run(P.self, capacity: 200_000_000, requests: workload.requests)
        }
        let result = run(type)
        #expect(result.requests == workload.requests.count)
        #expect(result.misses > 0 && result.misses < result.requests)
    }

    @Test("S3-FIFO keeps a re-used working set through a one-off scan; LRU loses it")
    func scanResistance() {
        func survivors<P: EvictionPolicy<Int>>(_: P.Type) -> Int {
            var policy = P(capacity: 100)
            var stored: Set<Int> = []
            func request(_ key: Int) {
                if stored.contains(key) {
                    policy.recordHit(key)
                    return
                }
                while stored.count >= 100, let victim = policy.evict() { stored.remove(victim) }
                policy.insert(key, size: 1)
                stored.insert(key)
            }
            for _ in 0..<3 { for key in 0..<50 { request(key) } }  // a hot set, re-used
            for key in 1000..<1500 { request(key) }  // a scan, five times the cache
            return (0..<50).filter { stored.contains($0) }.count
        }
        #expect(survivors(S3FIFOPolicy<Int>.self) == 50)
        #expect(survivors(LRUPolicy<Int>.self) == 0)
    }

    @Test("S3-FIFO misses less than LRU and fetches fewer bytes on the video workload")
    func fewerMisses() {
        var parameters = VideoWorkload.Parameters()
        parameters.titles = 200
        parameters.sessions = 4_000
        parameters.scanTitles = 40
        let workload = VideoWorkload(parameters)
        let capacity = workload.footprintBytes / 20
        let lru = CacheSimulator.run(LRUPolicy<Int>.self, capacity: capacity, requests: workload.requests)
        let s3 = CacheSimulator.run(S3FIFOPolicy<Int>.self, capacity: capacity, requests: workload.requests)
        #expect(s3.misses < lru.misses)
        #expect(s3.upstreamBytes <= lru.upstreamBytes)
    }
}
