import Crypto
import DePINProtocol
import Foundation
import Synchronization

/// Content keys leased from the coordinator, for the titles it gave this edge transcoding tasks
/// for. Each lease is sealed to a key pair this process made (never written to disk), is for
/// one title, and is used only until it expires (a minute early, against clock skew); then a
/// new lease is asked for.
final class LeasedKeys: ContentKeyProvider {
    let link: CoordinatorLink
    private let leaseKey = Curve25519.KeyAgreement.PrivateKey()
    private let leases = Mutex<[String: (key: [UInt8], expiresAt: Int64)]>([:])

    init(link: CoordinatorLink) { self.link = link }

    func key(for content: String) async throws -> [UInt8] {
        let now = Int64(Date().timeIntervalSince1970)
        if let lease = leases.withLock({ $0[content] }), lease.expiresAt - 60 > now { return lease.key }
        let lease: KeyLease
        do {
            lease = try await link.post(
                "/v1/leases", LeaseRequest(content: content, leaseKey: leaseKey.publicKey.rawRepresentation.base64EncodedString()), as: KeyLease.self)
        } catch {
            throw TranscodeFailure.source("the coordinator lent no key for \(content): \(error)")
        }
        let key: [UInt8]
        do {
            key = try lease.open(with: leaseKey, content: content, now: now)
        } catch {
            throw TranscodeFailure.source("the key lease for \(content) is unusable: \(error)")
        }
        leases.withLock { $0[content] = (key, lease.expiresAt) }
        return key
    }
}
