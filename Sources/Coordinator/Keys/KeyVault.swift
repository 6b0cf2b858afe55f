import Crypto
import DePINProtocol
import Foundation

/// The coordinator's own key and what it protects: it signs playback tokens and receipts,
/// seals each title's content key (AES-GCM under a key derived from it), so the database alone
/// never gives out content keys, and makes playback session ids it can recognise later.
package struct KeyVault: Sendable {
    package let identity: NodeIdentity
    package let tokens: PlaybackTokens
    private let sealing: SymmetricKey
    /// HMAC-SHA256 under the session key, as its two SHA-256 states after the key's padded
    /// blocks (hashed once, not per claim): each MAC starts from copies of them.
    private let sessionsInner: SHA256
    private let sessionsOuter: SHA256

    package init(identity: NodeIdentity) async {
        self.identity = identity
        tokens = await PlaybackTokens(signingKey: identity.privateKey)
        sealing = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: identity.privateKey.rawRepresentation), info: Data("depin content keys v1".utf8),
            outputByteCount: 32)
        (sessionsInner, sessionsOuter) = Self.hmacStates(
            key: HKDF<SHA256>.deriveKey(
                inputKeyMaterial: SymmetricKey(data: identity.privateKey.rawRepresentation), info: Data("depin sessions v1".utf8),
                outputByteCount: 32))
    }

    /// HMAC-SHA256's inner and outer states after the padded key (RFC 2104; a 32-byte key
    /// fills its 64-byte block with zeros).
    static func hmacStates(key: SymmetricKey) -> (inner: SHA256, outer: SHA256) {
        var block = key.withUnsafeBytes { Array($0) } + Array(repeating: 0, count: 64 - key.bitCount / 8)
        var (inner, outer) = (SHA256(), SHA256())
        for index in block.indices { block[index] ^= 0x36 }
        block.withUnsafeBytes { inner.update(bufferPointer: $0) }
        for index in block.indices { block[index] ^= 0x36 ^ 0x5c }
        block.withUnsafeBytes { outer.update(bufferPointer: $0) }
        return (inner, outer)
    }

    /// HMAC-SHA256 of `message` from the states ``hmacStates(key:)`` made.
    static func hmac(_ message: UnsafeRawBufferPointer, inner: SHA256, outer: SHA256) -> SHA256.Digest {
        var (inner, outer) = (inner, outer)
        inner.update(bufferPointer: message)
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }

    /// A new playback session id for `content` (``SessionID``), its MAC an HMAC-SHA256 under a
    /// key only this coordinator has, so a delivery claim's session is checked without storing
    /// every session issued.
    package func newSession(content: String, now: Int64) -> String {
        let random = JSONText.hex((0..<8).map { _ in UInt8.random(in: 0...255) })
        return SessionID.format(issued: now, random: random, mac: sessionMAC(content: content, issued: now, random: Array(random.utf8)))
    }

    /// When `session` was issued for `content` and its MAC (128 bits, unique to the session: a
    /// short key for it), or nil when this coordinator did not issue it for that title.
    package func checkedSession(_ session: String, content: String) -> (issued: Int64, key: UInt128)? {
        SessionID.withParts(of: session) { issued, random, claimed -> (issued: Int64, key: UInt128)? in
            // The MAC's first 16 bytes, as one number (the session's key), against the claimed
            // ones: one XOR of all 128 bits, not a comparison that stops at the first difference.
            let key = sessionMAC(content: content, issued: issued, random: random)
            guard key ^ claimed == 0 else { return nil }
            return (issued, key)
        }
    }

    /// The first 16 bytes of the session MAC, as a big-endian number.
    /// (HMAC-SHA256 of `content`, `issued` and `random`, a line each, written out on its two
    /// SHA-256 passes: its generic wrapper cost several times the hashing.)
    private func sessionMAC(content: String, issued: Int64, random: some Collection<UInt8>) -> UInt128 {
        content.withBytes { content in
            // content \n issued \n random, in one buffer on the stack.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: content.count + 22 + random.count) { message in
                var count = 0
                func append(_ byte: UInt8) {
                    message[count] = byte
                    count += 1
                }
                for byte in content { append(byte) }
                append(UInt8(ascii: "\n"))
                var digits = issued.magnitude
                if issued < 0 { append(UInt8(ascii: "-")) }
                let first = count
                repeat {
                    append(UInt8(48 + digits % 10))
                    digits /= 10
                } while digits > 0
                message[first..<count].reverse()
                append(UInt8(ascii: "\n"))
                for byte in random { append(byte) }
                let mac = Self.hmac(
                    UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: message[..<count])), inner: sessionsInner, outer: sessionsOuter)
                return mac.withUnsafeBytes { $0.prefix(16).reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
            }
        }
    }

    /// Reads the coordinator's identity from `path`, making it (mode 0600) when absent.
    package static func load(path: String) async throws -> (KeyVault, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (await KeyVault(identity: try NodeIdentity.read(from: path)), false) }
        let identity = NodeIdentity()
        try identity.write(to: path)
        return (await KeyVault(identity: identity), true)
    }

    /// A content key sealed for storage, base64; `content` is bound in as associated data.
    package func seal(_ key: [UInt8], content: String) throws -> String {
        let box = try AES.GCM.seal(key, using: sealing, authenticating: Data(content.utf8))
        return box.combined!.base64EncodedString()
    }

    package func unseal(_ sealed: String, content: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
            let key = try? AES.GCM.open(box, using: sealing, authenticating: Data(content.utf8))
        else { throw StoreFailure.corrupt("the sealed key of \(content) does not open with this coordinator's key") }
        return Array(key)
    }
}
