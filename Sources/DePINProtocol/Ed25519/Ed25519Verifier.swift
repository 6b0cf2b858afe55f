import Crypto
import Foundation
import Synchronization

/// Verifies Ed25519 signatures by keys it sees again and again (nodes signing requests),
/// about twice as fast as a general verifier: each key's multiples are computed once, in a
/// ``KeyTable``, and kept for the next signature.
///
/// Accepts exactly what `Curve25519.Signing.PublicKey.isValidSignature` accepts (RFC 8032
/// without the cofactor, s below the group order, R compared byte for byte); a key whose
/// encoding is not canonical is verified by swift-crypto instead.
///
/// ## Performance characteristics
/// A signature by a key already seen: SHA-512 of the message, 28 doublings and at most 128
/// additions (about 40 % of BoringSSL's time for a signed request here). A new key first costs
/// one table (about one general verification) and 7.5 KiB; at most `capacity` keys are
/// kept, the oldest dropped first. Thread-safe: the cache is behind a mutex, verifications
/// run in parallel.
public final class Ed25519Verifier: Sendable {
    /// The verifier a process shares (tables for 8,192 keys: 60 MiB at most).
    public static let shared = Ed25519Verifier()

    private struct Cache {
        /// Nil: the key is not canonical (verified by swift-crypto).
        var tables: [[UInt8]: KeyTable?] = [:]
        var order: [[UInt8]] = []
        var oldest = 0
    }

    private let capacity: Int
    private let cache = Mutex(Cache())

    public init(capacity: Int = 8_192) { self.capacity = max(1, capacity) }

    /// Whether `signature` is a valid Ed25519 signature of `message` by the raw 32-byte
    /// `publicKey`.
    public func isValidSignature(_ signature: some DataProtocol, for message: some DataProtocol, publicKey: some DataProtocol) -> Bool {
        let key = Array(publicKey), signature = Array(signature)
        guard key.count == 32, signature.count == 64 else { return false }
        guard let table = table(for: key) else {
            guard let general = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return false }
            return general.isValidSignature(signature, for: Array(message))
        }
        var hash = SHA512()
        hash.update(data: signature[0..<32])
        hash.update(data: key)
        hash.update(data: Array(message))
        return table.verifies(signature: signature, digest: Array(hash.finalize()))
    }

    /// The key's table, built on first use; nil when the key is verified the general way.
    private func table(for key: [UInt8]) -> KeyTable? {
        if let known = cache.withLock({ $0.tables[key] }) { return known }
        let built = KeyTable(encoded: key, negate: true)
        cache.withLock { cache in
            guard cache.tables[key] == nil else { return }
            if cache.order.count >= capacity {
                cache.tables[cache.order[cache.oldest]] = nil
                cache.order[cache.oldest] = key
                cache.oldest = (cache.oldest + 1) % capacity
            } else {
                cache.order.append(key)
            }
            cache.tables[key] = .some(built)
        }
        return built
    }
}
