import Crypto

/// SHA-256 for the API's token comparisons.
enum SHA256Digest {
    static func of(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
}
