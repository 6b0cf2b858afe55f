import Crypto
import Ed25519
import Foundation

/// How a node signs a request to the coordinator: four headers over the method, the path, a
/// timestamp, a one-time nonce and the SHA-256 of the body. The coordinator refuses a request
/// whose signature does not verify, whose timestamp is more than ``maxSkew`` away, or whose
/// nonce it has seen (a replay).
public enum SignedRequest {
    public static let nodeHeader = "X-DePIN-Node"
    public static let timestampHeader = "X-DePIN-Timestamp"
    public static let nonceHeader = "X-DePIN-Nonce"
    public static let signatureHeader = "X-DePIN-Signature"
    /// Seconds a request's timestamp may differ from the coordinator's clock.
    public static let maxSkew: Int64 = 300

    /// The bytes that are signed.
    public static func message(method: String, path: String, timestamp: Int64, nonce: String, body: some DataProtocol) -> [UInt8] {
        let digest = JSONText.hex(SHA256.hash(data: Array(body)))
        return Array("DEPIN1\n\(method.uppercased())\n\(path)\n\(timestamp)\n\(nonce)\n\(digest)".utf8)
    }

    /// The headers that sign a request.
    public static func headers(
        identity: NodeIdentity, method: String, path: String, body: some DataProtocol,
        timestamp: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = newNonce()
    ) throws -> [(String, String)] {
        let signature = try identity.privateKey.signature(for: message(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body))
        return [
            (nodeHeader, identity.id), (timestampHeader, String(timestamp)), (nonceHeader, nonce),
            (signatureHeader, signature.base64EncodedString()),
        ]
    }

    /// 16 random bytes in hex.
    public static func newNonce() -> String {
        JSONText.hex((0..<16).map { _ in UInt8.random(in: 0...255) })
    }

    /// Whether two header names are the same, ASCII letters compared without case (no copies:
    /// every signed request looks up four).
    public static func sameName(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { ($0 | 0x20) == ($1 | 0x20) && (($0 | 0x20) >= 97 && ($0 | 0x20) <= 122 || $0 == $1) }
    }

    /// What a verified request says about its sender.
    public struct Verified: Sendable, Equatable {
        public let node: String
        public let timestamp: Int64
        public let nonce: String
    }

    /// Checks the headers against `publicKey` (raw 32 bytes) and the clock; the caller then
    /// checks the nonce was never used.
    /// - Throws: ``ProtocolError`` saying which check failed.
    public static func verify(
        headers: [String: String], method: String, path: String, body: some DataProtocol, publicKey: some DataProtocol,
        now: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws -> Verified {
        func header(_ name: String) throws -> String {
            guard let value = headers.first(where: { Self.sameName($0.key, name) })?.value, !value.isEmpty else {
                throw ProtocolError.invalid("the request is not signed: header \(name) is missing")
            }
            return value
        }
        let node = try header(nodeHeader)
        guard let timestamp = Int64(try header(timestampHeader)) else { throw ProtocolError.invalid("\(timestampHeader) is not a number") }
        let nonce = try header(nonceHeader)
        guard nonce.count == 32, nonce.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw ProtocolError.invalid("\(nonceHeader) must be 32 lowercase hex digits")
        }
        guard let signature = Data(base64Encoded: try header(signatureHeader)) else {
            throw ProtocolError.invalid("\(signatureHeader) is not base64")
        }
        guard NodeIdentity.id(of: publicKey) == node else {
            throw ProtocolError.invalid("\(nodeHeader) \(node) is not the id of the key that signed")
        }
        guard abs(now - timestamp) <= maxSkew else {
            throw ProtocolError.invalid("the request's timestamp is \(now - timestamp) s from the coordinator's clock (at most \(maxSkew))")
        }
        // Nodes sign request after request with one key: its table is kept (Ed25519Verifier).
        guard Ed25519Verifier.shared.isValidSignature(signature, for: message(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body), publicKey: publicKey)
        else {
            throw ProtocolError.invalid("the signature does not verify with node \(node)'s key")
        }
        return Verified(node: node, timestamp: timestamp, nonce: nonce)
    }
}
