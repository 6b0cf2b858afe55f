import Crypto
import Foundation
import JWTKit

/// What a viewer carries from the route look-up to edges and the key service: a JWT signed by
/// the coordinator with EdDSA (Ed25519), bound to one title and one playback session, and
/// expiring. Edges verify it offline with the coordinator's public key.
public struct PlaybackToken: JWTPayload, Equatable {
    public static let issuer = "depin-coordinator"

    public var iss: IssuerClaim
    /// The playback session (receipts are counted per session).
    public var sub: SubjectClaim
    /// The title the token opens.
    public var content: String
    public var iat: IssuedAtClaim
    public var exp: ExpirationClaim

    public init(content: String, session: String, issuedAt: Date, expiresAt: Date) {
        iss = IssuerClaim(value: Self.issuer)
        sub = SubjectClaim(value: session)
        self.content = content
        iat = IssuedAtClaim(value: issuedAt)
        exp = ExpirationClaim(value: expiresAt)
    }

    public var session: String { sub.value }
    public var expiresAt: Date { exp.value }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard iss.value == Self.issuer else { throw TokenError.forged("the token was not issued by a DePIN coordinator") }
    }
}

/// Why a token was refused: ``code`` says which HTTP answer fits (401 or 403).
public struct TokenError: Error, CustomStringConvertible {
    public enum Code: Sendable {
        /// No token, or not one this coordinator signed, or expired: 401.
        case invalid
        /// A valid token for another title: 403.
        case wrongContent
    }
    public let code: Code
    public let message: String
    public var description: String { message }

    static func forged(_ m: String) -> Self { .init(code: .invalid, message: m) }
}

/// Signs and checks playback tokens with the coordinator's Ed25519 key (or, on an edge, only
/// checks them with its public key).
public struct PlaybackTokens: Sendable {
    private let keys: JWTKeyCollection
    private let signingKey: Curve25519.Signing.PrivateKey?

    /// For the coordinator: signs and verifies.
    public init(signingKey: Curve25519.Signing.PrivateKey) async {
        keys = JWTKeyCollection()
        await keys.add(eddsa: EdDSA.PrivateKey(backing: signingKey))
        self.signingKey = signingKey
    }

    /// For edges: verifies only, with the coordinator's raw 32-byte public key.
    public init(publicKey: some DataProtocol) async throws {
        keys = JWTKeyCollection()
        let key = try Curve25519.Signing.PublicKey(rawRepresentation: Array(publicKey))
        await keys.add(eddsa: EdDSA.PublicKey(backing: key))
        signingKey = nil
    }

    /// A signed token. Built here rather than through the key collection (an actor), so route
    /// answers on every core sign at once; jwt-kit verifies what this writes (tested).
    public func issue(content: String, session: String, lifetime: TimeInterval, now: Date = Date()) async throws -> String {
        guard let signingKey else { throw TokenError(code: .invalid, message: "this side holds only the public key") }
        let issued = Int64(now.timeIntervalSince1970)
        let expires = Int64(now.addingTimeInterval(lifetime).timeIntervalSince1970)
        let payload =
            "{\"iss\":\(JSONText.quoted(PlaybackToken.issuer)),\"sub\":\(JSONText.quoted(session)),\"content\":\(JSONText.quoted(content)),\"iat\":\(issued),\"exp\":\(expires)}"
        let signingInput = Self.header + "." + Self.base64URL(Data(payload.utf8))
        let signature = try signingKey.signature(for: Data(signingInput.utf8))
        return signingInput + "." + Self.base64URL(signature)
    }

    /// `{"alg":"EdDSA","typ":"JWT"}`, base64url.
    private static let header = base64URL(Data(#"{"alg":"EdDSA","typ":"JWT"}"#.utf8))

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The token's claims if it is genuine, unexpired and for `content`.
    /// - Throws: ``TokenError``.
    public func verify(_ token: String, for content: String) async throws -> PlaybackToken {
        let payload = try await verify(token)
        guard payload.content == content else {
            throw TokenError(code: .wrongContent, message: "the token is for \(payload.content), not \(content)")
        }
        return payload
    }

    /// The token's claims if it is genuine and unexpired, whatever title it opens.
    /// - Throws: ``TokenError``.
    public func verify(_ token: String) async throws -> PlaybackToken {
        let payload: PlaybackToken
        do {
            payload = try await keys.verify(token, as: PlaybackToken.self)
        } catch let error as JWTError {
            let reason = "\(error)".lowercased().contains("expired") ? "the token has expired" : "the token is not valid: it was not signed by this coordinator or is malformed"
            throw TokenError(code: .invalid, message: reason)
        } catch let error as TokenError {
            throw error
        } catch {
            throw TokenError(code: .invalid, message: "the token is not valid: \(error)")
        }
        return payload
    }
}
