import Crypto
import Foundation
import Testing

@testable import Ed25519

@Suite("Ed25519 verifier")
struct Ed25519VerifierTests {
    /// A signature changed one way: what swift-crypto says of it is what ours must say.
    static func variants(of signature: [UInt8], message: [UInt8], seed: Int) -> [(signature: [UInt8], message: [UInt8])] {
        var out = [(signature, message)]
        var flippedR = signature
        flippedR[seed % 32] ^= UInt8(1 << (seed % 8))
        out.append((flippedR, message))
        var flippedS = signature
        flippedS[32 + seed % 32] ^= UInt8(1 << (seed % 7))
        out.append((flippedS, message))
        var changed = message
        changed[seed % message.count] ^= 1
        out.append((signature, changed))
        // s + L: the same point, a non-canonical scalar (malleability), refused by both.
        let order: [UInt8] = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14] + [UInt8](repeating: 0, count: 15) + [0x10]
        var malleable = signature
        var carry = 0
        for index in 0..<32 {
            let sum = Int(malleable[32 + index]) + Int(order[index]) + carry
            malleable[32 + index] = UInt8(sum & 255)
            carry = sum >> 8
        }
        out.append((malleable, message))
        var sign = signature
        sign[31] ^= 0x80
        out.append((sign, message))
        return out
    }

    @Test("agrees with swift-crypto on valid and altered signatures")
    func agreesWithSwiftCrypto() {
        let verifier = Ed25519Verifier(capacity: 4)
        var checked = 0, valid = 0
        for keyIndex in 0..<6 {
            let key = Curve25519.Signing.PrivateKey()
            let raw = Array(key.publicKey.rawRepresentation)
            for index in 0..<12 {
                let message = (0..<(1 + (keyIndex * 37 + index * 11) % 200)).map { _ in UInt8.random(in: 0...255) }
                let signature = Array(try! key.signature(for: message))
                for (candidate, text) in Self.variants(of: signature, message: message, seed: keyIndex * 13 + index) {
                    let expected = key.publicKey.isValidSignature(candidate, for: text)
                    #expect(verifier.isValidSignature(candidate, for: text, publicKey: raw) == expected)
                    checked += 1
                    if expected { valid += 1 }
                }
            }
        }
        // Every unaltered signature is valid; of the altered ones none is.
        #expect(valid == 6 * 12)
        #expect(checked == 6 * 12 * 6)
    }

    @Test("keys that are not canonical, of small order or no point at all: the same verdicts as swift-crypto")
    func oddKeys() throws {
        let verifier = Ed25519Verifier()
        let identity = [UInt8(1)] + [UInt8](repeating: 0, count: 31)
        let keys: [[UInt8]] = [
            identity,
            [UInt8](repeating: 0xff, count: 32),  // y above p
            [UInt8(0xec)] + [UInt8](repeating: 0xff, count: 30) + [0x7f],  // y = p - 1 ... canonical
            [UInt8(2)] + [UInt8](repeating: 0, count: 31),  // y = 2: no point
            [UInt8(1)] + [UInt8](repeating: 0, count: 30) + [0x80],  // x = 0 with the sign bit set
            [UInt8](repeating: 0, count: 32),
        ]
        // With the identity as A, [s]B encoded is a valid R for any message: a signature
        // swift-crypto accepts, built without a private key.
        let s = [UInt8(7)] + [UInt8](repeating: 0, count: 31)
        var sum = EdwardsPoint.identity
        let base = KeyTable.base.points
        for _ in 0..<7 { sum = sum.adding(base[0], negative: false) }
        let forged = sum.encoded + s
        let message = Array("any message".utf8)
        for key in keys {
            let general = try? Curve25519.Signing.PublicKey(rawRepresentation: key)
            for signature in [forged, [UInt8](repeating: 0, count: 64), Array(try Curve25519.Signing.PrivateKey().signature(for: message))] {
                let expected = general?.isValidSignature(signature, for: message) ?? false
                #expect(verifier.isValidSignature(signature, for: message, publicKey: key) == expected, "key \(key)")
            }
        }
        #expect(Curve25519.Signing.PublicKey(rawRepresentationOrNil: identity)?.isValidSignature(forged, for: message) == true)
        #expect(verifier.isValidSignature(forged, for: message, publicKey: identity))
    }

    @Test("reduces 64-byte numbers modulo the group order")
    func reduction() {
        func bytes(_ hex: String) -> [UInt8] {
            var out: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                out.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
            return out
        }
        // Expected values computed with Python's integers.
        let cases = [
            (String(repeating: "ff", count: 64), "000f9c44e31106a447938568a71b0ed065bef517d273ecce3d9a307c1b419903"),
            ("cc7be1164f29370883d6e6e89bed9c3e000000000000000000000000000000300000000000000000000000000000000000000000000000000000000000000000",
             "0500000000000000000000000000000000000000000000000000000000000000"),
            ("d20a1feb8ca954ab0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000080",
             "49fce7bb0be460a90f98be05c38a76f232dffa0be93976e71e4d18be8da0cc09"),
        ]
        for (wide, reduced) in cases { #expect(Scalar.reduce(bytes(wide)) == bytes(reduced)) }
    }

    @Test("keeps verifying right as keys are dropped from a full cache")
    func eviction() throws {
        let verifier = Ed25519Verifier(capacity: 2)
        let keys = (0..<5).map { _ in Curve25519.Signing.PrivateKey() }
        let message = Array("claims".utf8)
        for round in 0..<3 {
            for key in keys {
                let signature = Array(try key.signature(for: message + [UInt8(round)]))
                #expect(verifier.isValidSignature(signature, for: message + [UInt8(round)], publicKey: Array(key.publicKey.rawRepresentation)))
                #expect(!verifier.isValidSignature(signature, for: message, publicKey: Array(key.publicKey.rawRepresentation)))
            }
        }
    }
}

extension Curve25519.Signing.PublicKey {
    init?(rawRepresentationOrNil raw: [UInt8]) {
        guard let key = try? Self(rawRepresentation: raw) else { return nil }
        self = key
    }
}
