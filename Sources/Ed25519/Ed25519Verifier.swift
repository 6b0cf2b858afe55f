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
/// kept, the oldest dropped first. A signature whose `s` is not below the group order, or of
/// the wrong length, is refused before any table is built; a key's table is kept only once a
/// signature by it verified, so forged or malformed signatures cost about one general
/// verification each and never push a real node's table out. Thread-safe: the cache is behind
/// a mutex, verifications run in parallel.
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
    /// Tables built since start (for tests: what refused signatures cost).
    private let built = Atomic<Int>(0)
    var tablesBuilt: Int { built.load(ordering: .relaxed) }
    /// Keys whose table is kept.
    var tablesKept: Int { cache.withLock { $0.tables.count } }

    public init(capacity: Int = 8_192) { self.capacity = max(1, capacity) }

    /// Whether `signature` is a valid Ed25519 signature of `message` by the raw 32-byte
    /// `publicKey`.
    public func isValidSignature(_ signature: some DataProtocol, for message: some DataProtocol, publicKey: some DataProtocol) -> Bool {
        let key = Array(publicKey), signature = Array(signature)
        guard key.count == 32, signature.count == 64, Scalar.isBelowOrder(Array(signature[32...])) else { return false }
        let known = cache.withLock { $0.tables[key] }
        let table: KeyTable?
        if let known {
            table = known
        } else {
            table = KeyTable(encoded: key, negate: true)
            built.add(1, ordering: .relaxed)
        }
        guard let table else {
            // Not canonical: swift-crypto's verdict, remembered (only the fact) once it verified.
            guard let general = try? Curve25519.Signing.PublicKey(rawRepresentation: key), general.isValidSignature(signature, for: Array(message))
            else { return false }
            if known == nil { keep(nil, for: key) }
            return true
        }
        var hash = SHA512()
        hash.update(data: signature[0..<32])
        hash.update(data: key)
        hash.update(data: Array(message))
        guard table.verifies(signature: signature, digest: Array(hash.finalize())) else { return false }
        if known == nil { keep(table, for: key) }
        return true
    }

    /// Whether `publicKey` may be a node's identity: 32 bytes encoding a point of the curve
    /// canonically (y below p, no negative zero), not of small order. A small-order key (one
    /// of the eight points whose multiple by 8 is the identity) would let forged signatures
    /// verify under verifiers without the cofactor, such as this one and BoringSSL.
    public static func isAcceptablePublicKey(_ publicKey: some DataProtocol) -> Bool {
        guard let point = EdwardsPoint(encoded: Array(publicKey)) else { return false }
        let eight = point.doubled(withT: false).doubled(withT: false).doubled(withT: false)
        return !(eight.x.isZero && eight.y == eight.z)
    }

    /// Keeps a key's table (nil: the key is not canonical) after a signature by it verified.
    private func keep(_ built: KeyTable?, for key: [UInt8]) {
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
    }
}
