/// Replays a trace against an eviction policy at a byte budget, counting misses and upstream bytes.
package enum CacheSimulator {
    package struct Result: Sendable {
        package var policy: String
        package var capacity: Int
        package var requests = 0
        package var misses = 0
        package var requestedBytes = 0
        package var upstreamBytes = 0

        package var missRatio: Double { requests == 0 ? 0 : Double(misses) / Double(requests) }
        package var byteMissRatio: Double { requestedBytes == 0 ? 0 : Double(upstreamBytes) / Double(requestedBytes) }
    }

    /// Every miss is filled from upstream and stored (objects larger than the budget excepted).
    package static func run<Policy: EvictionPolicy<Int>>(_: Policy.Type, capacity: Int, requests: [VideoWorkload.Request]) -> Result {
        var policy = Policy(capacity: capacity)
        var stored: [Int: Int] = [:]
        var used = 0
        var result = Result(policy: Policy.name, capacity: capacity)
        for r in requests {
            result.requests += 1
            result.requestedBytes += r.size
            if stored[r.key] != nil {
                policy.recordHit(r.key)
                continue
            }
            result.misses += 1
            result.upstreamBytes += r.size
            guard r.size <= capacity else { continue }
            while used + r.size > capacity, let victim = policy.evict() {
                used -= stored.removeValue(forKey: victim) ?? 0
            }
            stored[r.key] = r.size
            used += r.size
            policy.insert(r.key, size: r.size)
            assert(used <= capacity, "simulator: \(used) bytes stored over a budget of \(capacity)")
        }
        return result
    }
}
