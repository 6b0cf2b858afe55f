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
    private let sessions: SymmetricKey

    package init(identity: NodeIdentity) async {
        self.identity = identity
        tokens = await PlaybackTokens(signingKey: identity.privateKey)
        sealing = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: identity.privateKey.rawRepresentation), info: Data("depin content keys v1".utf8),
            outputByteCount: 32)
        sessions = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: identity.privateKey.rawRepresentation), info: Data("depin sessions v1".utf8),
            outputByteCount: 32)
    }

    /// A new playback session id for `content`: `ISSUED-RANDOM-MAC` (seconds since 1970, 16 and
    /// 32 hex digits), the MAC an HMAC-SHA256 of the three under a key only this coordinator
    /// has, so a delivery claim's session is checked without storing every session issued.
    package func newSession(content: String, now: Int64) -> String {
        let random = JSONText.hex((0..<8).map { _ in UInt8.random(in: 0...255) })
        return "\(now)-\(random)-\(sessionMAC(content: content, issued: now, random: random))"
    }

    /// When `session` was issued for `content`, or nil when this coordinator did not issue it for
    /// that title.
    package func sessionIssued(_ session: String, content: String) -> Int64? {
        let parts = session.split(separator: "-")
        guard parts.count == 3, let issued = Int64(parts[0]), parts[1].count == 16, parts[2].count == 32 else { return nil }
        let expected = sessionMAC(content: content, issued: issued, random: String(parts[1]))
        // Constant-time comparison.
        guard zip(expected.utf8, parts[2].utf8).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
        return issued
    }

    private func sessionMAC(content: String, issued: Int64, random: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(content)\n\(issued)\n\(random)".utf8), using: sessions)
        return JSONText.hex(mac.prefix(16))
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
