import Crypto
import CryptoExtras
import Foundation

/// AES-128-CBC for HLS segments exactly as RFC 8216 section 5.2 specifies: PKCS#7 padding, and
/// an IV that is the segment's media sequence number as a 128-bit big-endian integer unless the
/// playlist's EXT-X-KEY gives one.
public struct SegmentCipher: Sendable {
    /// The content key's length in bytes.
    public static let keyLength = 16
    private let key: SymmetricKey

    /// - Throws: ``HLSError`` unless `key` is 16 bytes.
    public init(key: [UInt8]) throws {
        guard key.count == Self.keyLength else {
            throw HLSError.crypto("an HLS AES-128 key is 16 bytes, not \(key.count)")
        }
        self.key = SymmetricKey(data: key)
    }

    /// A fresh random content key.
    public static func makeKey() -> [UInt8] {
        SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
    }

    /// The IV HLS uses when the playlist gives none: the media sequence number, big-endian.
    public static func iv(sequence: Int) -> [UInt8] {
        var iv = [UInt8](repeating: 0, count: 16)
        var value = UInt64(sequence)
        for i in (8..<16).reversed() {
            iv[i] = UInt8(value & 0xff)
            value >>= 8
        }
        return iv
    }

    /// Encrypts a whole segment.
    public func encrypt(_ plaintext: [UInt8], iv: [UInt8]) throws -> [UInt8] {
        do {
            return Array(try AES._CBC.encrypt(plaintext, using: key, iv: AES._CBC.IV(ivBytes: iv)))
        } catch {
            throw HLSError.crypto("AES-128-CBC encryption failed: \(error)")
        }
    }

    /// Decrypts a whole segment and removes its padding.
    /// - Throws: ``HLSError`` when the length is not whole blocks or the padding is wrong (a
    ///   wrong key, IV or truncated file).
    public func decrypt(_ ciphertext: [UInt8], iv: [UInt8]) throws -> [UInt8] {
        guard !ciphertext.isEmpty, ciphertext.count % 16 == 0 else {
            throw HLSError.crypto("an AES-128-CBC segment is whole 16-byte blocks; this one is \(ciphertext.count) bytes")
        }
        do {
            return Array(try AES._CBC.decrypt(ciphertext, using: key, iv: AES._CBC.IV(ivBytes: iv)))
        } catch {
            throw HLSError.crypto("cannot decrypt the segment (wrong key or IV, or a damaged file): \(error)")
        }
    }

    /// Encrypts a segment that arrives in pieces: whole blocks leave as soon as they are complete,
    /// the padded last block at ``StreamEncryptor/finish()``. The result equals ``encrypt(_:iv:)``
    /// of the concatenated input.
    public func streamEncryptor(iv: [UInt8]) -> StreamEncryptor { StreamEncryptor(key: key, iv: iv) }
}

/// See ``SegmentCipher/streamEncryptor(iv:)``. Not thread-safe: one producer at a time.
public struct StreamEncryptor: Sendable {
    private let key: SymmetricKey
    private var chain: [UInt8]
    private var pending: [UInt8] = []

    init(key: SymmetricKey, iv: [UInt8]) {
        self.key = key
        self.chain = iv
    }

    /// Plaintext bytes taken but not yet encrypted (less than a block).
    public var pendingCount: Int { pending.count }

    /// Adds plaintext; returns the ciphertext of every block now complete (may be empty).
    public mutating func update(_ plaintext: UnsafeRawBufferPointer) throws -> [UInt8] {
        pending.append(contentsOf: plaintext)
        let whole = pending.count / 16 * 16
        guard whole > 0 else { return [] }
        let output = try encrypt(pending[..<whole])
        pending.removeFirst(whole)
        return output
    }

    /// Pads and encrypts the rest.
    public mutating func finish() throws -> [UInt8] {
        let pad = 16 - pending.count % 16
        pending.append(contentsOf: repeatElement(UInt8(pad), count: pad))
        let output = try encrypt(pending[...])
        pending = []
        return output
    }

    private mutating func encrypt(_ blocks: ArraySlice<UInt8>) throws -> [UInt8] {
        do {
            let output = Array(try AES._CBC.encrypt(blocks, using: key, iv: AES._CBC.IV(ivBytes: chain), noPadding: true))
            chain = Array(output.suffix(16))
            return output
        } catch {
            throw HLSError.crypto("AES-128-CBC encryption failed: \(error)")
        }
    }
}
