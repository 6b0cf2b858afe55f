/// A point of the Ed25519 curve (-x^2 + y^2 = 1 + d x^2 y^2) in extended coordinates:
/// x = X/Z, y = Y/Z, xy = T/Z (Hisil, Wong, Carter and Dawson, "Twisted Edwards Curves
/// Revisited", 2008). For ``Ed25519Verifier``; variable time.
struct EdwardsPoint: Sendable {
    var x: FieldElement, y: FieldElement, z: FieldElement, t: FieldElement

    static let identity = EdwardsPoint(x: .zero, y: .one, z: .one, t: .zero)

    /// An affine point ready for mixed addition: y + x, y - x, 2 d x y.
    struct Niels: Sendable {
        var yPlusX: FieldElement, yMinusX: FieldElement, xy2d: FieldElement
    }

    /// A point ready to be added: Y + X, Y - X, 2 Z, 2 d T.
    struct Cached {
        var yPlusX: FieldElement, yMinusX: FieldElement, z2: FieldElement, t2d: FieldElement

        init(_ point: EdwardsPoint) {
            yPlusX = point.y + point.x
            yMinusX = point.y - point.x
            z2 = point.z + point.z
            t2d = point.t * .d2
        }
    }

    /// Decodes 32 bytes as RFC 8032 (5.1.3) does, refusing what is not canonical: y at or
    /// above p, or x = 0 with the sign bit set. Nil when the bytes are no point of the curve.
    init?(encoded: [UInt8]) {
        guard encoded.count == 32 else { return nil }
        let y = FieldElement(bytes: encoded)
        var canonical = encoded
        canonical[31] &= 127
        guard y.bytes == canonical else { return nil }
        let y2 = y.squared()
        let u = y2 - .one
        let v = y2 * .d + .one
        let v3 = v.squared() * v
        var x = (v3.squared() * v * u).power22523() * v3 * u
        let vx2 = x.squared() * v
        if !(vx2 == u) {
            guard vx2 == -u else { return nil }
            x = x * .sqrtMinusOne
        }
        let sign = encoded[31] >> 7 == 1
        if sign && x.isZero { return nil }
        if x.isNegative != sign { x = -x }
        self.init(x: x, y: y, z: .one, t: x * y)
    }

    init(x: FieldElement, y: FieldElement, z: FieldElement, t: FieldElement) {
        (self.x, self.y, self.z, self.t) = (x, y, z, t)
    }

    var negated: EdwardsPoint { EdwardsPoint(x: -x, y: y, z: z, t: -t) }

    /// 2P (dbl-2008-hwcd, a = -1); T only when `withT` (the next step is an addition).
    @inline(__always) func doubled(withT: Bool) -> EdwardsPoint {
        let a = x.squared(), b = y.squared()
        let c2 = z.squared()
        let c = c2 + c2
        let sum = a + b
        let e = (x + y).squared() - sum
        let g = b - a
        let f = g - c
        let h = -sum
        return EdwardsPoint(x: e * f, y: g * h, z: f * g, t: withT ? e * h : .zero)
    }

    /// P + Q, or P - Q when `negative`.
    @inline(__always) func adding(_ q: Niels, negative: Bool) -> EdwardsPoint {
        let a = (y - x) * (negative ? q.yPlusX : q.yMinusX)
        let b = (y + x) * (negative ? q.yMinusX : q.yPlusX)
        let product = t * q.xy2d
        let c = negative ? -product : product
        let d = z + z
        let e = b - a, f = d - c, g = d + c, h = b + a
        return EdwardsPoint(x: e * f, y: g * h, z: f * g, t: e * h)
    }

    /// P + Q.
    func adding(_ q: Cached) -> EdwardsPoint {
        let a = (y - x) * q.yMinusX
        let b = (y + x) * q.yPlusX
        let c = t * q.t2d
        let d = z * q.z2
        let e = b - a, f = d - c, g = d + c, h = b + a
        return EdwardsPoint(x: e * f, y: g * h, z: f * g, t: e * h)
    }

    /// The 32-byte encoding (RFC 8032 5.1.2).
    var encoded: [UInt8] {
        let inverse = z.inverted()
        let affineX = x * inverse
        var out = (y * inverse).bytes
        if affineX.isNegative { out[31] |= 0x80 }
        return out
    }
}
