import Crypto
import DePINProtocol
import Foundation
import Testing

@testable import Ed25519

/// Published Ed25519 test vectors, against this project's verifier and swift-crypto's
/// (BoringSSL): Wycheproof's, read from swift-crypto's checkout (not copied here), and the
/// twelve edge cases of Chalkias, Garillot and Nikolaenko, "Taming the Many EdDSAs" (2020).
@Suite("Ed25519 vectors: Wycheproof and ed25519-speccheck")
struct Ed25519VectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func bytes(_ hex: String) -> [UInt8] { JSONText.bytes(hex: hex)! }

    @Test("Wycheproof's 150 cases: each verdict as the file says, from this verifier and from swift-crypto")
    func wycheproof() throws {
        let path = Self.root.path + "/.build/checkouts/swift-crypto/Tests/Test Vectors/ed25519_test.json"
        let data = try #require(FileManager.default.contents(atPath: path), "swift-crypto's checkout has no \(path)")
        let file = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let verifier = Ed25519Verifier(capacity: 16)
        var cases = 0
        for group in file["testGroups"] as? [[String: Any]] ?? [] {
            let key = Self.bytes((group["publicKey"] as? [String: Any])?["pk"] as? String ?? "")
            for test in group["tests"] as? [[String: Any]] ?? [] {
                let message = Self.bytes(test["msg"] as? String ?? ""), signature = Self.bytes(test["sig"] as? String ?? "")
                let expected = test["result"] as? String == "valid"
                let id = test["tcId"] as? Int ?? -1
                #expect(verifier.isValidSignature(signature, for: message, publicKey: key) == expected, "Wycheproof case \(id)")
                let general = try? Curve25519.Signing.PublicKey(rawRepresentation: key)
                #expect((general?.isValidSignature(signature, for: message) ?? false) == expected, "swift-crypto, Wycheproof case \(id)")
                cases += 1
            }
        }
        #expect(cases == file["numberOfTests"] as? Int && cases >= 150)
    }

    /// ed25519-speccheck's cases.json (Apache-2.0): message, public key, signature.
    static let speccheck: [(message: String, key: String, signature: String)] = [
        ("8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000"),
        ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
        ("aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e"),
        ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009"),
        ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09"),
        ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405"),
        ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514"),
        ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22"),
        ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f"),
        ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908"),
        ("e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
        ("39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
    ]

    @Test("the twelve speccheck cases: BoringSSL's row (V V V V X X X X X X X V) from this verifier and swift-crypto; their small-order and non-canonical keys are no node's identity")
    func speccheck() {
        let verifier = Ed25519Verifier(capacity: 16)
        let boringSSL = [true, true, true, true, false, false, false, false, false, false, false, true]
        for (index, entry) in Self.speccheck.enumerated() {
            let (message, key, signature) = (Self.bytes(entry.message), Self.bytes(entry.key), Self.bytes(entry.signature))
            #expect(verifier.isValidSignature(signature, for: message, publicKey: key) == boringSSL[index], "speccheck case \(index)")
            let general = try? Curve25519.Signing.PublicKey(rawRepresentation: key)
            #expect((general?.isValidSignature(signature, for: message) ?? false) == boringSSL[index], "swift-crypto, speccheck case \(index)")
        }
        // Cases 0 and 1 (a small-order key: anyone can make signatures that verify) and 10 and 11
        // (a key that is not canonical) may be no node's; the others' keys (2, 8 and 9 of mixed
        // order, whose signatures still need the private key) may.
        for index in [0, 1, 10, 11] {
            #expect(!Ed25519Verifier.isAcceptablePublicKey(Self.bytes(Self.speccheck[index].key)), "speccheck case \(index)'s key")
        }
        for index in [2, 3, 4, 5, 6, 7, 8, 9] { #expect(Ed25519Verifier.isAcceptablePublicKey(Self.bytes(Self.speccheck[index].key)), "speccheck case \(index)'s key") }
    }

    @Test("every point of small order, and keys that are no point or not canonical, are refused as identities; real keys are not")
    func acceptableKeys() {
        let smallOrder = [
            "0100000000000000000000000000000000000000000000000000000000000000", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000080",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        ]
        for hex in smallOrder { #expect(!Ed25519Verifier.isAcceptablePublicKey(Self.bytes(hex)), "\(hex) is of small order") }
        // y = p (not canonical), y above p, 31 bytes, and a y with no x on the curve.
        for hex in ["edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "02000000000000000000000000000000000000000000000000000000000000", "0200000000000000000000000000000000000000000000000000000000000000"] {
            #expect(!Ed25519Verifier.isAcceptablePublicKey(Self.bytes(hex)), "\(hex)")
        }
        for _ in 0..<50 { #expect(Ed25519Verifier.isAcceptablePublicKey(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation)) }
    }

    @Test("a signature with s at or above the order builds no table; a key's table is kept only after a signature by it verified")
    func tablesOnlyAfterAValidSignature() throws {
        let verifier = Ed25519Verifier(capacity: 4)
        let key = Curve25519.Signing.PrivateKey()
        let raw = Array(key.publicKey.rawRepresentation)
        let message = Array("hello".utf8)
        var signature = Array(try key.signature(for: message))
        var huge = signature
        for index in 32..<64 { huge[index] = 0xff }
        #expect(!verifier.isValidSignature(huge, for: message, publicKey: raw))
        #expect(!verifier.isValidSignature(Array(signature.prefix(63)), for: message, publicKey: raw))
        #expect(verifier.tablesBuilt == 0, "refused before any table was built")
        signature[5] ^= 1
        #expect(!verifier.isValidSignature(signature, for: message, publicKey: raw))
        #expect(verifier.tablesBuilt == 1 && verifier.tablesKept == 0, "a forged signature's table is not kept")
        signature[5] ^= 1
        #expect(verifier.isValidSignature(signature, for: message, publicKey: raw))
        #expect(verifier.tablesKept == 1)
        #expect(verifier.isValidSignature(signature, for: message, publicKey: raw))
        #expect(verifier.tablesBuilt == 2, "the kept table serves the next signature")
    }
}
