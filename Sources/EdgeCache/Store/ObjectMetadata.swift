import Foundation

/// What the store knows of one object besides its bytes; written in the object file's header.
package struct ObjectMetadata: Codable, Sendable, Equatable {
    /// `content/path` of the object.
    package var key: String
    /// Length of the body in bytes.
    package var length: Int
    /// SHA-256 of the body, lowercase hex.
    package var sha256: String
    /// When the origin says the object last changed (seconds since 1970).
    package var lastModified: Int64
    /// When this edge stored it (seconds since 1970).
    package var storedAt: Int64

    package init(key: String, length: Int, sha256: String, lastModified: Int64, storedAt: Int64) {
        self.key = key
        self.length = length
        self.sha256 = sha256
        self.lastModified = lastModified
        self.storedAt = storedAt
    }

    /// A strong entity tag made from the content hash (RFC 9110 §8.8.3): 128 bits of SHA-256.
    package var etag: String { "\"\(sha256.prefix(32))\"" }
}

/// The object file format: a fixed header region holding the metadata as JSON, then the body.
///
/// `DPC1`, a 4-byte big-endian JSON length, the JSON, zero padding up to ``headerSize``, the body.
/// A fixed region lets the body be written while it arrives and the header last, just before the
/// atomic rename that publishes the object.
enum ObjectFileFormat {
    static let magic: [UInt8] = Array("DPC1".utf8)
    static let headerSize = 2048

    static func encodeHeader(_ metadata: ObjectMetadata) throws(StoreError) -> [UInt8] {
        let json: Data
        do { json = try JSONEncoder().encode(metadata) } catch { throw .corrupt("metadata does not encode: \(error)") }
        guard json.count + 8 <= headerSize else { throw .tooLarge("object metadata is longer than \(headerSize - 8) bytes") }
        var bytes = magic
        let n = UInt32(json.count)
        bytes += [UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)]
        bytes += json
        bytes += [UInt8](repeating: 0, count: headerSize - bytes.count)
        return bytes
    }

    static func decodeHeader(_ bytes: [UInt8]) throws(StoreError) -> ObjectMetadata {
        guard bytes.count >= 8, Array(bytes[0..<4]) == magic else { throw .corrupt("bad magic") }
        let n = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        guard n > 0, 8 + n <= min(bytes.count, headerSize) else { throw .corrupt("bad header length \(n)") }
        do {
            return try JSONDecoder().decode(ObjectMetadata.self, from: Data(bytes[8..<(8 + n)]))
        } catch {
            throw .corrupt("unreadable metadata")
        }
    }
}
