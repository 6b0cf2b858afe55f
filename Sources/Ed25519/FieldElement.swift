/// An element of GF(2^255 - 19) in five 51-bit limbs, for ``Ed25519Verifier``.
///
/// Limbs are kept below about 2^52 between operations (every operation ends with a carry
/// pass), so products of two elements fit in 128 bits with room to spare. Arithmetic wraps
/// (`&+`, `&*`) where the bounds above make overflow impossible.
///
/// ## Performance characteristics
/// A multiplication is 25 64-by-64-bit products and one carry pass; everything runs in
/// variable time, which is fine for what it is used for: public keys, signatures and messages.
struct FieldElement: Sendable {
    var l0: UInt64, l1: UInt64, l2: UInt64, l3: UInt64, l4: UInt64

    static let mask: UInt64 = (1 << 51) - 1
    static let zero = FieldElement(l0: 0, l1: 0, l2: 0, l3: 0, l4: 0)
    static let one = FieldElement(l0: 1, l1: 0, l2: 0, l3: 0, l4: 0)
    /// d = -121665 / 121666, the curve constant.
    static let d = FieldElement(l0: 0x34dca1_35978a3, l1: 0x1a8283_b156ebd, l2: 0x5e7a26_001c029, l3: 0x739c66_3a03cbb, l4: 0x52036c_ee2b6ff)
    static let d2 = FieldElement(l0: 0x69b942_6b2f159, l1: 0x350507_62add7a, l2: 0x3cf44c_0038052, l3: 0x6738cc_7407977, l4: 0x2406d9_dc56dff)
    /// A square root of -1.
    static let sqrtMinusOne = FieldElement(
        l0: 0x61b274_a0ea0b0, l1: 0x0d5a5f_c8f189d, l2: 0x7ef5e9_cbd0c60, l3: 0x78595a_6804c9e, l4: 0x2b8324_804fc1d)

    /// The low 255 bits of 32 little-endian bytes (the top bit is the caller's).
    init(bytes: some Collection<UInt8>) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for (index, byte) in bytes.prefix(32).enumerated() {
            let shifted = UInt64(byte) << (8 * UInt64(index % 8))
            switch index / 8 {
            case 0: words.0 |= shifted
            case 1: words.1 |= shifted
            case 2: words.2 |= shifted
            default: words.3 |= shifted
            }
        }
        l0 = words.0 & Self.mask
        l1 = ((words.0 >> 51) | (words.1 << 13)) & Self.mask
        l2 = ((words.1 >> 38) | (words.2 << 26)) & Self.mask
        l3 = ((words.2 >> 25) | (words.3 << 39)) & Self.mask
        l4 = (words.3 >> 12) & Self.mask
    }

    init(l0: UInt64, l1: UInt64, l2: UInt64, l3: UInt64, l4: UInt64) {
        (self.l0, self.l1, self.l2, self.l3, self.l4) = (l0, l1, l2, l3, l4)
    }

    /// One carry pass: limbs 1 to 4 below 2^51, limb 0 at most 19 times the carry above it.
    @inline(__always) mutating func carry() {
        var c = l0 >> 51
        l0 &= Self.mask
        l1 &+= c
        c = l1 >> 51
        l1 &= Self.mask
        l2 &+= c
        c = l2 >> 51
        l2 &= Self.mask
        l3 &+= c
        c = l3 >> 51
        l3 &= Self.mask
        l4 &+= c
        c = l4 >> 51
        l4 &= Self.mask
        l0 &+= 19 &* c
    }

    @inline(__always) static func + (f: FieldElement, g: FieldElement) -> FieldElement {
        var h = FieldElement(l0: f.l0 &+ g.l0, l1: f.l1 &+ g.l1, l2: f.l2 &+ g.l2, l3: f.l3 &+ g.l3, l4: f.l4 &+ g.l4)
        h.carry()
        return h
    }

    /// f - g + 4p, so no limb goes below zero.
    @inline(__always) static func - (f: FieldElement, g: FieldElement) -> FieldElement {
        var h = FieldElement(
            l0: (f.l0 &+ 0x1f_ffff_ffff_ffb4) &- g.l0, l1: (f.l1 &+ 0x1f_ffff_ffff_fffc) &- g.l1, l2: (f.l2 &+ 0x1f_ffff_ffff_fffc) &- g.l2,
            l3: (f.l3 &+ 0x1f_ffff_ffff_fffc) &- g.l3, l4: (f.l4 &+ 0x1f_ffff_ffff_fffc) &- g.l4)
        h.carry()
        return h
    }

    @inline(__always) static prefix func - (f: FieldElement) -> FieldElement { .zero - f }

    @inline(__always) static func * (f: FieldElement, g: FieldElement) -> FieldElement {
        let g1 = 19 &* g.l1, g2 = 19 &* g.l2, g3 = 19 &* g.l3, g4 = 19 &* g.l4
        let r0 = wide(f.l0, g.l0) &+ wide(f.l1, g4) &+ wide(f.l2, g3) &+ wide(f.l3, g2) &+ wide(f.l4, g1)
        let r1 = wide(f.l0, g.l1) &+ wide(f.l1, g.l0) &+ wide(f.l2, g4) &+ wide(f.l3, g3) &+ wide(f.l4, g2)
        let r2 = wide(f.l0, g.l2) &+ wide(f.l1, g.l1) &+ wide(f.l2, g.l0) &+ wide(f.l3, g4) &+ wide(f.l4, g3)
        let r3 = wide(f.l0, g.l3) &+ wide(f.l1, g.l2) &+ wide(f.l2, g.l1) &+ wide(f.l3, g.l0) &+ wide(f.l4, g4)
        let r4 = wide(f.l0, g.l4) &+ wide(f.l1, g.l3) &+ wide(f.l2, g.l2) &+ wide(f.l3, g.l1) &+ wide(f.l4, g.l0)
        return reduce(r0, r1, r2, r3, r4)
    }

    @inline(__always) func squared() -> FieldElement {
        let f0 = l0, f1 = l1, f2 = l2, f3 = l3, f4 = l4
        let f0x2 = 2 &* f0, f1x2 = 2 &* f1, f2x2 = 2 &* f2, f3x2 = 2 &* f3, f3x19 = 19 &* f3, f4x19 = 19 &* f4
        let r0 = Self.wide(f0, f0) &+ Self.wide(f1x2, f4x19) &+ Self.wide(f2x2, f3x19)
        let r1 = Self.wide(f0x2, f1) &+ Self.wide(f2x2, f4x19) &+ Self.wide(f3, f3x19)
        let r2 = Self.wide(f0x2, f2) &+ Self.wide(f1, f1) &+ Self.wide(f3x2, f4x19)
        let r3 = Self.wide(f0x2, f3) &+ Self.wide(f1x2, f2) &+ Self.wide(f4, f4x19)
        let r4 = Self.wide(f0x2, f4) &+ Self.wide(f1x2, f3) &+ Self.wide(f2, f2)
        return Self.reduce(r0, r1, r2, r3, r4)
    }

    /// Squared `times` times.
    func squared(times: Int) -> FieldElement {
        var h = self
        for _ in 0..<times { h = h.squared() }
        return h
    }

    @inline(__always) private static func wide(_ a: UInt64, _ b: UInt64) -> UInt128 { UInt128(a) &* UInt128(b) }

    @inline(__always) private static func reduce(_ r0: UInt128, _ r1: UInt128, _ r2: UInt128, _ r3: UInt128, _ r4: UInt128) -> FieldElement {
        let s1 = r1 &+ (r0 >> 51)
        let s2 = r2 &+ (s1 >> 51)
        let s3 = r3 &+ (s2 >> 51)
        let s4 = r4 &+ (s3 >> 51)
        var h0 = UInt64(truncatingIfNeeded: r0) & mask
        let h1 = UInt64(truncatingIfNeeded: s1) & mask
        let h2 = UInt64(truncatingIfNeeded: s2) & mask
        let h3 = UInt64(truncatingIfNeeded: s3) & mask
        let h4 = UInt64(truncatingIfNeeded: s4) & mask
        h0 &+= 19 &* UInt64(truncatingIfNeeded: s4 >> 51)
        return FieldElement(l0: h0 & mask, l1: h1 &+ (h0 >> 51), l2: h2, l3: h3, l4: h4)
    }

    /// The canonical 32 bytes (fully reduced below p).
    var bytes: [UInt8] {
        var t = self
        t.carry()
        t.carry()
        // t is below 2^255 + 19: adding 19, then 2^255 - 19, leaves t mod p in the low 255 bits.
        t.l0 &+= 19
        t.carry()
        t.l0 &+= (1 << 51) - 19
        t.l1 &+= (1 << 51) - 1
        t.l2 &+= (1 << 51) - 1
        t.l3 &+= (1 << 51) - 1
        t.l4 &+= (1 << 51) - 1
        t.l1 &+= t.l0 >> 51
        t.l0 &= Self.mask
        t.l2 &+= t.l1 >> 51
        t.l1 &= Self.mask
        t.l3 &+= t.l2 >> 51
        t.l2 &= Self.mask
        t.l4 &+= t.l3 >> 51
        t.l3 &= Self.mask
        t.l4 &= Self.mask
        let words = [t.l0 | (t.l1 << 51), (t.l1 >> 13) | (t.l2 << 38), (t.l2 >> 26) | (t.l3 << 25), (t.l3 >> 39) | (t.l4 << 12)]
        var out = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 { out[index] = UInt8(truncatingIfNeeded: words[index / 8] >> (8 * UInt64(index % 8))) }
        return out
    }

    /// Whether the canonical value is odd (the "negative" of RFC 8032).
    var isNegative: Bool { bytes[0] & 1 == 1 }

    var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

    static func == (f: FieldElement, g: FieldElement) -> Bool { (f - g).isZero }

    /// z^(2^250 - 1), and z^11 (shared by the inversion and the square root).
    private func power2250Minus1() -> (FieldElement, z11: FieldElement) {
        let z2 = squared()
        let z9 = z2.squared(times: 2) * self
        let z11 = z9 * z2
        let z2_5_0 = z11.squared() * z9
        let z2_10_0 = z2_5_0.squared(times: 5) * z2_5_0
        let z2_20_0 = z2_10_0.squared(times: 10) * z2_10_0
        let z2_40_0 = z2_20_0.squared(times: 20) * z2_20_0
        let z2_50_0 = z2_40_0.squared(times: 10) * z2_10_0
        let z2_100_0 = z2_50_0.squared(times: 50) * z2_50_0
        let z2_200_0 = z2_100_0.squared(times: 100) * z2_100_0
        return (z2_200_0.squared(times: 50) * z2_50_0, z11)
    }

    /// 1/z, as z^(p - 2) = z^(2^255 - 21).
    func inverted() -> FieldElement {
        let (t, z11) = power2250Minus1()
        return t.squared(times: 5) * z11
    }

    /// z^((p - 5) / 8) = z^(2^252 - 3), for square roots.
    func power22523() -> FieldElement {
        let (t, _) = power2250Minus1()
        return t.squared(times: 2) * self
    }
}
