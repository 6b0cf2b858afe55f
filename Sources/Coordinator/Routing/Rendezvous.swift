import Foundation

/// Weighted rendezvous (highest-random-weight) hashing with a hash that is the same in every
/// process, so two coordinators give one title's viewers the same edges.
///
/// Each (content, edge) pair gets a uniform number u in (0, 1) from a 64-bit mix of the two
/// names' FNV-1a hashes; the edge's score is `weight / -ln(u)`. The highest score wins, and an
/// edge's share of titles is proportional to its weight. Adding or removing an edge changes the
/// winner only for titles that edge wins or would win.
package enum Rendezvous {
    /// FNV-1a, 64-bit: stable across processes and platforms (Swift's `Hasher` is seeded per process).
    package static func hash(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// splitmix64's finaliser: spreads every input bit over the output.
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The score of an edge (by its name's hash) for a title (by its hash).
    @inline(__always)
    package static func score(content: UInt64, edge: UInt64, weight: Double) -> Double {
        let bits = mix(content ^ mix(edge))
        // 53 random bits as a double in (0, 1): never 0, never 1.
        let u = (Double(bits >> 11) + 0.5) / 9_007_199_254_740_992.0
        return weight / -log(u)
    }
}
