/// Precomputed multiples of one curve point, so that scalar products with it take few
/// doublings of their own: for each block j of 32 bits (0 to 7), the points m 2^(32 j) P for
/// m = 1 to 8, in affine form. Written in 64 signed base-16 digits, 8 to a block, a scalar's
/// product is a sum over 8 digit positions, and two such products (here [s]B and [k](-A))
/// share the 28 doublings between positions.
///
/// ## Performance characteristics
/// Building a table costs about as much as one general verification (224 doublings, 56
/// additions and one inversion for all 64 points); it takes 7.5 KiB. Verifying with two
/// tables takes 28 doublings and at most 128 mixed additions, against about 253 doublings and
/// 85 additions for a general verifier.
struct KeyTable: Sendable {
    static let blocks = 8
    static let multiples = 8
    /// Digits (of 4 bits) a block spans.
    static let positions = 64 / blocks
    /// Block-major: entry 8 j + m - 1 is m 2^(32 j) P.
    let points: [EdwardsPoint.Niels]

    /// The table of the point `encoded` (or of its negation); nil when the bytes are not a
    /// canonical encoding of a curve point.
    init?(encoded: [UInt8], negate: Bool) {
        guard let decoded = EdwardsPoint(encoded: encoded) else { return nil }
        var base = negate ? decoded.negated : decoded
        var projective: [EdwardsPoint] = []
        projective.reserveCapacity(Self.blocks * Self.multiples)
        for block in 0..<Self.blocks {
            if block > 0 {
                for step in 0..<(4 * Self.positions) { base = base.doubled(withT: step == 4 * Self.positions - 1) }
            }
            let cached = EdwardsPoint.Cached(base)
            projective.append(base)
            for _ in 1..<Self.multiples { projective.append(projective[projective.count - 1].adding(cached)) }
        }
        // Every Z inverted at once (Montgomery's trick): one inversion, three products each.
        var prefix: [FieldElement] = [projective[0].z]
        for point in projective.dropFirst() { prefix.append(prefix[prefix.count - 1] * point.z) }
        guard !prefix[prefix.count - 1].isZero else { return nil }
        var inverse = prefix[prefix.count - 1].inverted()
        var affine = [EdwardsPoint.Niels](repeating: EdwardsPoint.Niels(yPlusX: .zero, yMinusX: .zero, xy2d: .zero), count: projective.count)
        for index in projective.indices.reversed() {
            let zInverse: FieldElement
            if index > 0 {
                zInverse = inverse * prefix[index - 1]
                inverse = inverse * projective[index].z
            } else {
                zInverse = inverse
            }
            let x = projective[index].x * zInverse, y = projective[index].y * zInverse
            affine[index] = EdwardsPoint.Niels(yPlusX: y + x, yMinusX: y - x, xy2d: x * y * .d2)
        }
        points = affine
    }

    /// The base point B of Ed25519.
    static let base = KeyTable(encoded: [0x58] + [UInt8](repeating: 0x66, count: 31), negate: false)!

    /// Whether `signature` (R and s) verifies for the key this table was built from, negated,
    /// given `digest` = SHA-512(R || A || message): s below the group order, and
    /// [s]B + [k](-A) encodes to exactly R, k being the digest reduced modulo the order. The rule
    /// of RFC 8032 without the cofactor, as BoringSSL verifies.
    func verifies(signature: [UInt8], digest: [UInt8]) -> Bool {
        guard signature.count == 64, digest.count == 64 else { return false }
        let s = Array(signature[32...])
        guard Scalar.isBelowOrder(s) else { return false }
        let k = Scalar.digits(Scalar.reduce(digest))
        let sDigits = Scalar.digits(s)
        let base = Self.base.points
        var sum = EdwardsPoint.identity
        for position in stride(from: Self.positions - 1, through: 0, by: -1) {
            if position != Self.positions - 1 {
                for step in 0..<4 { sum = sum.doubled(withT: step == 3) }
            }
            for block in 0..<Self.blocks {
                let digit = k[Self.positions * block + position]
                if digit != 0 { sum = sum.adding(points[Self.multiples * block + Int(digit.magnitude) - 1], negative: digit < 0) }
                let sDigit = sDigits[Self.positions * block + position]
                if sDigit != 0 { sum = sum.adding(base[Self.multiples * block + Int(sDigit.magnitude) - 1], negative: sDigit < 0) }
            }
        }
        return sum.encoded.elementsEqual(signature[0..<32])
    }
}

/// Integers modulo the group order L = 2^252 + 27742317777372353535851937790883648493.
enum Scalar {
    static let order: [UInt64] = [0x5812_631a_5cf5_d3ed, 0x14de_f9de_a2f7_9cd6, 0, 0x1000_0000_0000_0000]
    /// floor(2^512 / L), for Barrett reduction.
    static let barrett: [UInt64] = [0xed9c_e5a3_0a2c_131b, 0x2106_215d_0863_29a7, 0xffff_ffff_ffff_ffeb, 0xffff_ffff_ffff_ffff, 0xf]

    static func words(_ bytes: some Collection<UInt8>) -> [UInt64] {
        var out = [UInt64](repeating: 0, count: (bytes.count + 7) / 8)
        for (index, byte) in bytes.enumerated() { out[index / 8] |= UInt64(byte) << (8 * UInt64(index % 8)) }
        return out
    }

    /// Whether `limbs` (little-endian 64-bit words, any count) is below L.
    static func isBelow(_ limbs: [UInt64]) -> Bool {
        if limbs.count > 4, limbs[4...].contains(where: { $0 != 0 }) { return false }
        for index in (0..<4).reversed() {
            let limb = index < limbs.count ? limbs[index] : 0
            if limb != order[index] { return limb < order[index] }
        }
        return false
    }

    static func isBelowOrder(_ bytes: [UInt8]) -> Bool { bytes.count == 32 && isBelow(words(bytes)) }

    /// 64 little-endian bytes modulo L, as 32 bytes (Barrett, base 2^64: HAC 14.42).
    static func reduce(_ wide: [UInt8]) -> [UInt8] {
        let x = words(wide)
        // q3 = ((x >> 192) * mu) >> 320
        var q2 = [UInt64](repeating: 0, count: 10)
        for i in 0..<5 {
            var carry: UInt64 = 0
            for j in 0..<5 {
                let t = UInt128(x[3 + i]) &* UInt128(barrett[j]) &+ UInt128(q2[i + j]) &+ UInt128(carry)
                q2[i + j] = UInt64(truncatingIfNeeded: t)
                carry = UInt64(truncatingIfNeeded: t >> 64)
            }
            q2[i + 5] = carry
        }
        // r = (x mod 2^320) - (q3 L mod 2^320), then L taken off at most twice.
        var product = [UInt64](repeating: 0, count: 5)
        for i in 0..<5 {
            var carry: UInt64 = 0
            for j in 0..<4 where i + j < 5 {
                let t = UInt128(q2[5 + i]) &* UInt128(order[j]) &+ UInt128(product[i + j]) &+ UInt128(carry)
                product[i + j] = UInt64(truncatingIfNeeded: t)
                carry = UInt64(truncatingIfNeeded: t >> 64)
            }
            if i == 0 { product[4] &+= carry }
        }
        var r = subtract(Array(x[0..<5]), product)
        while !isBelow(r) { r = subtract(r, order + [0]) }
        var out = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 { out[index] = UInt8(truncatingIfNeeded: r[index / 8] >> (8 * UInt64(index % 8))) }
        return out
    }

    /// a - b modulo 2^(64 n).
    private static func subtract(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var out = a
        var borrow = false
        for index in a.indices {
            let (partial, first) = a[index].subtractingReportingOverflow(b[index])
            let (result, second) = partial.subtractingReportingOverflow(borrow ? 1 : 0)
            out[index] = result
            borrow = first || second
        }
        return out
    }

    /// 64 signed digits in [-8, 8] with a = sum of digit i times 16^i (a below 2^255).
    static func digits(_ a: [UInt8]) -> [Int8] {
        var out = [Int8](repeating: 0, count: 64)
        for index in 0..<32 {
            out[2 * index] = Int8(a[index] & 15)
            out[2 * index + 1] = Int8(a[index] >> 4)
        }
        var carry: Int8 = 0
        for index in 0..<63 {
            out[index] += carry
            carry = (out[index] + 8) >> 4
            out[index] -= carry << 4
        }
        out[63] += carry
        return out
    }
}
