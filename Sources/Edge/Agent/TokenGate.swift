import DePINProtocol
import Foundation
import HTTPTypes
import ServerGuards
import Synchronization

/// Checks playback tokens on an edge that has a coordinator: offline, with the coordinator's
/// public key, and remembering each verified token until it expires, so a segment request
/// pays a dictionary look-up, not an Ed25519 verification (about 60 µs here).
///
/// Until the coordinator's key is known (fetched at start, then kept in the cache folder for
/// restarts without the coordinator), requests are refused with 503.
///
/// ## Performance characteristics
/// Remembering and looking up a token are constant time (a dictionary and a queue of
/// insertions): at most `capacity` tokens are kept (100,000: about 60 MB with their strings);
/// past that the oldest is forgotten, so a flood of fresh tokens costs each its verification
/// and never stops new viewers' tokens from being remembered.
package final class TokenGate: Sendable {
    /// The coordinator's base URL (the key URI of rewritten playlists points there).
    package let coordinator: String
    private let verifier = Mutex<PlaybackTokens?>(nil)
    /// Verified tokens, the oldest forgotten first.
    private let verified: Mutex<OldestFirstMap<String, (content: String, session: String, expires: Int64)>>

    package init(coordinator: String, capacity: Int = 100_000) {
        self.coordinator = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
        verified = Mutex(OldestFirstMap(capacity: max(1, capacity)))
    }

    /// Tokens remembered now.
    var rememberedCount: Int { verified.withLock { $0.count } }

    /// Installs the coordinator's raw 32-byte Ed25519 public key.
    package func install(publicKey: Data) async throws {
        let tokens = try await PlaybackTokens(publicKey: publicKey)
        verifier.withLock { $0 = tokens }
    }

    package var hasKey: Bool { verifier.withLock { $0 != nil } }

    /// True when `token` was verified before for `content` and has not expired (no suspension).
    package func allowsRemembered(_ token: String, content: String, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Bool {
        verified.withLock { known in
            guard let entry = known[token] else { return false }
            return entry.content == content && entry.expires > now
        }
    }

    /// When a token that passed ``refusal(_:content:)`` expires, seconds since 1970.
    package func expiry(of token: String) -> Int64? { verified.withLock { $0[token]?.expires } }

    /// The session (`sub`) of a token that passed ``refusal(_:content:)``: a viewer's session,
    /// or a ``TokenScope`` for edges (`host:NODE`, `fill:NODE`).
    package func session(of token: String) -> String? { verified.withLock { $0[token]?.session } }

    /// Whom a remembered token was given to (nil if it is not remembered).
    package func scope(of token: String) -> TokenScope? { session(of: token).map(TokenScope.init(subject:)) }

    /// Why `token` does not open `content`, or nil when it does.
    func refusal(_ token: String?, content: String) async -> HTTPFailure? {
        guard let token, !token.isEmpty else {
            return HTTPFailure(status: .unauthorized, message: "a playback token is required (?token= from the coordinator's /v1/route, or Authorization: Bearer)")
        }
        let now = Int64(Date().timeIntervalSince1970)
        if allowsRemembered(token, content: content, now: now) { return nil }
        guard let tokens = verifier.withLock({ $0 }) else {
            return HTTPFailure(status: .serviceUnavailable, message: "this edge does not know the coordinator's key yet; try again shortly")
        }
        do {
            let claims = try await tokens.verify(token, for: content)
            let expires = Int64(claims.expiresAt.timeIntervalSince1970)
            verified.withLock { $0[token] = (content, claims.session, expires) }
            return nil
        } catch let error as TokenError {
            return HTTPFailure(status: error.code == .wrongContent ? .forbidden : .unauthorized, message: error.message)
        } catch {
            return HTTPFailure(status: .unauthorized, message: "the token is not valid: \(error)")
        }
    }

    /// The token a request carries: `?token=` or `Authorization: Bearer`.
    static func token(query: Substring?, authorization: String?) -> String? {
        if let value = QueryParameters.value("token", in: query) {
            return QueryParameters.contains(UInt8(ascii: "%"), in: value) ? String(value).removingPercentEncoding : String(value)
        }
        if let authorization, authorization.hasPrefix("Bearer ") { return String(authorization.dropFirst(7)) }
        return nil
    }
}
