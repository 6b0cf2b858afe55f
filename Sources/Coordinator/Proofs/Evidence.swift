import Foundation

/// What a slash's ledger event carries as evidence: JSON written by an encoder (sorted keys),
/// so an id or a path with a quote in it cannot change its shape.
enum Evidence {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A challenge a host failed, as a slash records it.
struct FailedChallenge: Codable {
    var challenge: String
    var content: String
    var segment: Int
    var chunk: Int
    var outcome: String
    var issuedAt: Int64
}

/// Three edges' SHA-256 of one rendition segment in a transcode audit, by node.
struct DisagreeingOutputs: Codable {
    var path: String
    var hashes: [String: String]
}
