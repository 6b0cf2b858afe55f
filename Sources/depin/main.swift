import EdgeCache
import Foundation
let env = ProcessInfo.processInfo.environment
var p = VideoWorkload.Parameters()
p.titles = Int(env["T"] ?? "") ?? 1000
p.sessions = Int(env["S"] ?? "") ?? 40000
let w = VideoWorkload(p)
let fp = w.footprintBytes
print("requests \(w.requests.count) footprint \(fp/1_000_000) MB")
struct V: EvictionPolicy { static var name: String {"s3"}; var p: LookaheadS3FIFOPolicy<Int>; init(capacity: Int) { p = .init(capacity: capacity); let e = ProcessInfo.processInfo.environment; p.lookahead = Int(e["L"] ?? "8")!; p.cursorLifetime = Double(e["C"] ?? "12")!; p.maxProtectedPerEviction = Int(e["M"] ?? "64")!; p.bucketSegments = Int(e["B"] ?? "16")!; p.passThreshold = Double(e["P"] ?? "2")!; p.halfLife = Double(e["H"] ?? "3600")!; p.perStream = e["PS"] == "1" }
  mutating func recordHit(_ key: Int, hint: SequenceHint?, now: Double) { p.recordHit(key, hint: hint, now: now) }; mutating func insert(_ key: Int, size: Int, hint: SequenceHint?, now: Double) { p.insert(key, size: size, hint: hint, now: now) }
  mutating func evict(now: Double) -> Int? { p.evict(now: now) }; mutating func remove(_ key: Int) { p.remove(key) }; var count: Int { p.count } }
for frac in [0.02, 0.05] {
    let cap = Int(Double(fp) * frac)
    let a = CacheSimulator.run(V.self, capacity: cap, requests: w.requests)
    let b = CacheSimulator.run(LRUPolicy<Int>.self, capacity: cap, requests: w.requests)
    print(frac, "lru", b.missRatio, "v", 1 - a.missRatio / b.missRatio, "bytes v/lru", Double(a.upstreamBytes)/Double(b.upstreamBytes))
}
