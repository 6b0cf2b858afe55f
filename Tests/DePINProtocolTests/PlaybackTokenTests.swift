import Crypto
import DePINProtocol
import Foundation
import Testing

@Suite("Playback tokens and key leases")
struct PlaybackTokenTests {
    @Test("tokens the coordinator writes verify with jwt-kit and the public key; another title's, a forger's and an expired one do not")
    func tokens() async throws {
        let key = Curve25519.Signing.PrivateKey()
        let signer = await PlaybackTokens(signingKey: key)
        let verifier = try await PlaybackTokens(publicKey: key.publicKey.rawRepresentation)
        // Ids with characters JSON must escape still round-trip.
        for session in ["s-1", "fill:abc", "quote\"back\\slash\u{1}"] {
            let token = try await signer.issue(content: "title_1", session: session, lifetime: 60)
            let claims = try await verifier.verify(token, for: "title_1")
            #expect(claims.session == session && claims.content == "title_1")
        }
        let token = try await signer.issue(content: "title", session: "s", lifetime: 60)
        await #expect { try await verifier.verify(token, for: "other") } throws: { ($0 as? TokenError)?.code == .wrongContent }
        let forged = try await PlaybackTokens(signingKey: .init()).issue(content: "title", session: "s", lifetime: 60)
        await #expect { try await verifier.verify(forged, for: "title") } throws: { ($0 as? TokenError)?.code == .invalid }
        let old = try await signer.issue(content: "title", session: "s", lifetime: 60, now: Date().addingTimeInterval(-3600))
        await #expect { try await verifier.verify(old, for: "title") } throws: { "\($0)".contains("expired") }
        await #expect { try await verifier.issue(content: "title", session: "s", lifetime: 60) } throws: { "\($0)".contains("only the public key") }
    }

    @Test("a key lease opens only with the edge's lease key, for its title, before it expires")
    func leases() throws {
        let edge = Curve25519.KeyAgreement.PrivateKey()
        let key = (0..<16).map { UInt8($0 * 7) }
        let lease = try KeyLease.seal(key, content: "movie", expiresAt: 2_000, to: edge.publicKey.rawRepresentation)
        #expect(try lease.open(with: edge, content: "movie", now: 1_000) == key)
        #expect { try lease.open(with: edge, content: "movie", now: 2_000) } throws: { "\($0)".contains("expired") }
        #expect { try lease.open(with: edge, content: "other", now: 1_000) } throws: { "\($0)".contains("not other") }
        #expect { try lease.open(with: .init(), content: "movie", now: 1_000) } throws: { "\($0)".contains("does not open") }
        // A lease whose expiry was lengthened no longer opens (the expiry is bound in).
        var stretched = lease
        stretched.expiresAt = 9_000
        #expect { try stretched.open(with: edge, content: "movie", now: 1_000) } throws: { "\($0)".contains("does not open") }
        #expect { try KeyLease.seal(key, content: "movie", expiresAt: 1, to: Data([1, 2, 3])) } throws: { "\($0)".contains("X25519") }
    }
}
