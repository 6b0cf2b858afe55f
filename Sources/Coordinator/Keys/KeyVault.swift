import Crypto
import DePINProtocol
import Foundation

/// The coordinator's own key and what it protects: it signs playback tokens, and seals each
/// title's content key (AES-GCM under a key derived from it), so the database alone never
/// gives out content keys.
package struct KeyVault: Sendable {
    package let identity: NodeIdentity
    package let tokens: PlaybackTokens
    private let sealing: SymmetricKey

    package init(identity: NodeIdentity) async {
        self.identity = identity
        tokens = await PlaybackTokens(signingKey: identity.privateKey)
        sealing = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: identity.privateKey.rawRepresentation), info: Data("depin content keys v1".utf8),
            outputByteCount: 32)
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
