import Crypto
import Foundation

/// A title's content key lent to one transcoding edge for a while: sealed with HPKE
/// (X25519, HKDF-SHA256, ChaCha20-Poly1305) to a key pair the edge made for leases, with the
/// title and the expiry bound in, so only that edge opens it and it cannot be passed off as
/// another title's or a longer lease.
public struct KeyLease: Codable, Sendable, Equatable, KnownFields {
    public var content: String
    /// Seconds since 1970 after which the edge must not use the key.
    public var expiresAt: Int64
    /// HPKE's encapsulated key, base64.
    public var encapsulatedKey: String
    /// The sealed 16-byte key, base64.
    public var sealedKey: String

    public static let knownFields: Set<String> = ["content", "expiresAt", "encapsulatedKey", "sealedKey"]
    static let suite = HPKE.Ciphersuite.Curve25519_SHA256_ChachaPoly

    static func info(content: String, expiresAt: Int64) -> Data { Data("depin key lease v1\n\(content)\n\(expiresAt)".utf8) }

    /// Seals `key` for the holder of `recipient` (a raw X25519 public key).
    /// - Throws: ``ProtocolError`` when `recipient` is not an X25519 key.
    public static func seal(_ key: [UInt8], content: String, expiresAt: Int64, to recipient: Data) throws -> KeyLease {
        guard let publicKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: recipient) else {
            throw ProtocolError.invalid("leaseKey must be a raw X25519 public key (32 bytes, base64)")
        }
        var sender = try HPKE.Sender(recipientKey: publicKey, ciphersuite: suite, info: info(content: content, expiresAt: expiresAt))
        let sealed = try sender.seal(key)
        return KeyLease(
            content: content, expiresAt: expiresAt, encapsulatedKey: sender.encapsulatedKey.base64EncodedString(),
            sealedKey: sealed.base64EncodedString())
    }

    /// The key, if this lease was sealed to `privateKey` for `content` and has not expired.
    /// - Throws: ``ProtocolError`` saying which check failed.
    public func open(with privateKey: Curve25519.KeyAgreement.PrivateKey, content expected: String, now: Int64) throws -> [UInt8] {
        guard content == expected else { throw ProtocolError.invalid("the lease is for \(content), not \(expected)") }
        guard expiresAt > now else { throw ProtocolError.invalid("the lease of \(content) expired") }
        guard let encapsulated = Data(base64Encoded: encapsulatedKey), let sealed = Data(base64Encoded: sealedKey) else {
            throw ProtocolError.invalid("the lease of \(content) is not base64")
        }
        do {
            var recipient = try HPKE.Recipient(
                privateKey: privateKey, ciphersuite: Self.suite, info: Self.info(content: content, expiresAt: expiresAt), encapsulatedKey: encapsulated)
            let key = try recipient.open(sealed)
            guard key.count == 16 else { throw ProtocolError.invalid("the leased key is \(key.count) bytes, not 16") }
            return Array(key)
        } catch let error as ProtocolError {
            throw error
        } catch {
            throw ProtocolError.invalid("the lease of \(content) does not open with this edge's lease key")
        }
    }
}

/// `POST /v1/leases` (signed): a transcoding edge asks for a title's key.
public struct LeaseRequest: Codable, Sendable, Equatable, KnownFields {
    public var content: String
    /// The edge's X25519 public key for leases, base64.
    public var leaseKey: String

    public static let knownFields: Set<String> = ["content", "leaseKey"]

    public init(content: String, leaseKey: String) {
        self.content = content
        self.leaseKey = leaseKey
    }
}
