import Crypto
import Foundation

/// A node's Ed25519 key pair, kept in a file only its owner can read (`depin keys generate`).
///
/// The node id is the first 16 bytes of SHA-256 of the public key, in hex: short enough for
/// URLs and logs, and bound to the key, so nobody can register under another node's id.
public struct NodeIdentity: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey

    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }
    public var id: String { Self.id(of: publicKey.rawRepresentation) }

    public init(privateKey: Curve25519.Signing.PrivateKey = .init()) { self.privateKey = privateKey }

    /// The node id of a raw 32-byte Ed25519 public key.
    public static func id(of publicKey: some DataProtocol) -> String {
        JSONText.hex(SHA256.hash(data: Array(publicKey)).prefix(16))
    }

    /// The file: JSON with the version, the key type and both keys in base64.
    struct File: Codable {
        var version = 1
        var type = "ed25519"
        var id: String
        var publicKey: String
        var privateKey: String
    }

    /// Writes the key pair to `path` with mode 0600; refuses to overwrite.
    /// - Throws: ``ProtocolError`` saying what went wrong.
    public func write(to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ProtocolError.invalid("\(path) already exists; an identity is never overwritten")
        }
        let file = File(
            id: id, publicKey: publicKey.rawRepresentation.base64EncodedString(),
            privateKey: privateKey.rawRepresentation.base64EncodedString())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(file)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ProtocolError.invalid("cannot write \(path)")
        }
    }

    /// Reads a key file written by ``write(to:)``.
    /// - Throws: ``ProtocolError`` naming the file and the problem.
    public static func read(from path: String) throws -> NodeIdentity {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProtocolError.invalid("cannot read the identity file \(path)")
        }
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.version == 1, file.type == "ed25519",
            let raw = Data(base64Encoded: file.privateKey), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else {
            throw ProtocolError.invalid("\(path) is not a depin identity file (depin keys generate writes one)")
        }
        let identity = NodeIdentity(privateKey: key)
        guard identity.id == file.id, identity.publicKey.rawRepresentation.base64EncodedString() == file.publicKey else {
            throw ProtocolError.invalid("\(path): the id or public key does not match the private key")
        }
        return identity
    }
}
