import Foundation

/// `GET /v1/keys/coordinator`: the coordinator's Ed25519 public key, raw in base64 and as a JWK
/// (`kty` OKP, `crv` Ed25519, `x` in base64url), with the coordinator's id.
public struct CoordinatorKey: Codable, Sendable, Equatable {
    public var id: String
    public var publicKey: String
    public var kty: String
    public var crv: String
    public var alg: String
    public var x: String

    public init(id: String, publicKey: Data) {
        self.id = id
        self.publicKey = publicKey.base64EncodedString()
        kty = "OKP"
        crv = "Ed25519"
        alg = "EdDSA"
        x = self.publicKey.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The raw 32-byte key; nil when `publicKey` is not 32 bytes of base64.
    public var rawKey: Data? { Data(base64Encoded: publicKey).flatMap { $0.count == 32 ? $0 : nil } }

    /// Decodes an answer's body; nil when it is not a coordinator key.
    public static func decode(_ body: Data) -> CoordinatorKey? {
        guard let key = try? JSONDecoder().decode(CoordinatorKey.self, from: body), key.rawKey != nil else { return nil }
        return key
    }
}

/// Every refusal of the coordinator's API: `{"error": "why"}`.
public struct ErrorAnswer: Codable, Sendable {
    public var error: String

    /// The reason in a refusal's body: its `error`, or the body itself (trimmed) when it is not
    /// an API error.
    public static func reason(in body: some Collection<UInt8>) -> String {
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (try? JSONDecoder().decode(ErrorAnswer.self, from: Data(text.utf8)))?.error ?? text
    }
}
