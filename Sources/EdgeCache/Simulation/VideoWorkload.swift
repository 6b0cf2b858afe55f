/// A synthetic video-edge request trace: who asks for which segment of which rendition, when.
///
/// Titles have Zipf popularity; viewers arrive uniformly over the trace, pick a rung of the ladder
/// (and now and then switch a rung, as ABR players do), read 4-second segments in order from the
/// start, and abandon with a fixed probability per segment. Halfway through, a one-off scan reads
/// every segment of some cold titles once (a crawler, a prefetch job, a catalogue check).
/// Deterministic for a given seed. Used by `scripts/bench-cache` and the eviction tests.
package struct VideoWorkload: Sendable {
    package struct Parameters: Sendable {
        package var titles = 4_000
        package var zipfExponent = 0.9
        package var sessions = 40_000
        package var traceSeconds = 86_400.0
        package var segmentSeconds = 4.0
        package var titleSegments = 75...900
        /// Probability that a viewer watches the next segment.
        package var continueProbability = 0.985
        /// Probability per segment that the player moves one rung up or down.
        package var switchProbability = 0.02
        /// The ladder: share of viewers starting on each rung, and bytes per segment.
        package var ladder: [(share: Double, bytes: Int)] = [
            (0.20, 2_400_000), (0.40, 1_400_000), (0.25, 700_000), (0.15, 350_000),
        ]
        /// How many cold titles (from the least popular half) the scan reads, each at one rung.
        package var scanTitles = 400
        package var scanRequestsPerSecond = 200.0
        package var seed: UInt64 = 0x00de_4ab5

        package init() {}
    }

    package struct Request: Sendable {
        package var time: Double
        package var key: Int
        package var size: Int
    }

    package let parameters: Parameters
    package let requests: [Request]

    package init(_ parameters: Parameters = .init()) {
        self.parameters = parameters
        var rng = SplitMix64(seed: parameters.seed)
        let p = parameters

        var lengths: [Int] = []
        for _ in 0..<p.titles { lengths.append(Int.random(in: p.titleSegments, using: &rng)) }
        var cdf: [Double] = []
        var total = 0.0
        for rank in 1...p.titles {
            total += 1 / pow(Double(rank), p.zipfExponent)
            cdf.append(total)
        }
        var ladderCDF: [Double] = []
        var acc = 0.0
        for rung in p.ladder {
            acc += rung.share
            ladderCDF.append(acc)
        }

        func key(_ title: Int, _ rung: Int, _ segment: Int) -> Int { title << 32 | rung << 24 | segment }

        var out: [Request] = []
        out.reserveCapacity(p.sessions * 60)
        for _ in 0..<p.sessions {
            let u = Double.random(in: 0..<total, using: &rng)
            let title = Self.lowerBound(cdf, u)
            let start = Double.random(in: 0..<p.traceSeconds, using: &rng)
            var rung = Self.lowerBound(ladderCDF, Double.random(in: 0..<acc, using: &rng))
            var segment = 0
            while segment < lengths[title] {
                out.append(Request(time: start + Double(segment) * p.segmentSeconds, key: key(title, rung, segment), size: p.ladder[rung].bytes))
                if Double.random(in: 0..<1, using: &rng) >= p.continueProbability { break }
                if Double.random(in: 0..<1, using: &rng) < p.switchProbability {
                    rung = Bool.random(using: &rng) ? min(rung + 1, p.ladder.count - 1) : max(rung - 1, 0)
                }
                segment += 1
            }
        }
        // The one-off scan of cold titles, halfway through the trace.
        var time = p.traceSeconds / 2
        for _ in 0..<p.scanTitles {
            let title = Int.random(in: (p.titles / 2)..<p.titles, using: &rng)
            let rung = Int.random(in: 0..<p.ladder.count, using: &rng)
            for segment in 0..<lengths[title] {
                out.append(Request(time: time, key: key(title, rung, segment), size: p.ladder[rung].bytes))
                time += 1 / p.scanRequestsPerSecond
            }
        }
        out.sort { $0.time < $1.time }
        self.requests = out
    }

    /// The bytes of all distinct objects the trace asks for.
    package var footprintBytes: Int {
        var seen: Set<Int> = []
        var bytes = 0
        for r in requests where seen.insert(r.key).inserted { bytes += r.size }
        return bytes
    }

    private static func lowerBound(_ cdf: [Double], _ value: Double) -> Int {
        var lo = 0
        var hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] <= value { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// A small, fast, seedable generator (Steele et al.), so traces repeat exactly.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
