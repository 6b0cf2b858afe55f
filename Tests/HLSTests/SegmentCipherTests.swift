import Foundation
import HLS
import TestSupport
import Testing

@Suite("AES-128-CBC segment encryption as HLS specifies")
struct SegmentCipherTests {
    let key: [UInt8] = Array(0x10..<0x20)

    @Test("decrypt(encrypt(x)) == x at every size around the block length", arguments: [0, 1, 15, 16, 17, 31, 32, 1000, 188 * 1000 + 5])
    func roundTrip(size: Int) throws {
        let cipher = try SegmentCipher(key: key)
        let plaintext = patternBytes(size, seed: UInt8(size % 250))
        let iv = SegmentCipher.iv(sequence: size)
        let ciphertext = try cipher.encrypt(plaintext, iv: iv)
        #expect(ciphertext.count == (size / 16 + 1) * 16)  // PKCS#7 always adds 1 to 16 bytes
        #expect(try cipher.decrypt(ciphertext, iv: iv) == plaintext)
    }

    @Test("the streaming encryptor gives the same bytes as one call, however the input is cut")
    func streaming() throws {
        let cipher = try SegmentCipher(key: key)
        let plaintext = patternBytes(100_003)
        let iv = SegmentCipher.iv(sequence: 42)
        let whole = try cipher.encrypt(plaintext, iv: iv)
        for cut in [1, 7, 16, 4096, 65_537] {
            var encryptor = cipher.streamEncryptor(iv: iv)
            var out: [UInt8] = []
            var offset = 0
            while offset < plaintext.count {
                let end = min(offset + cut, plaintext.count)
                out += try plaintext[offset..<end].withUnsafeBytes { try encryptor.update($0) }
                offset = end
            }
            out += try encryptor.finish()
            #expect(out == whole, "cut \(cut)")
        }
    }

    @Test("the default IV is the media sequence number, big-endian")
    func ivRule() {
        #expect(SegmentCipher.iv(sequence: 0) == Array(repeating: 0, count: 16))
        #expect(SegmentCipher.iv(sequence: 0x0102) == Array(repeating: 0, count: 14) + [1, 2])
    }

    @Test("openssl decrypts what this encrypts, and this decrypts what openssl encrypts")
    func interoperates() async throws {
        let dir = TemporaryDirectory("cipher")
        defer { dir.remove() }
        let cipher = try SegmentCipher(key: key)
        let plaintext = patternBytes(5000)
        let iv = SegmentCipher.iv(sequence: 9)
        dir.write("ours.bin", try cipher.encrypt(plaintext, iv: iv))
        dir.write("plain.bin", plaintext)
        let hexKey = key.map { String(format: "%02x", $0) }.joined()
        let hexIV = iv.map { String(format: "%02x", $0) }.joined()
        let decrypted = try await run("/usr/bin/openssl", ["aes-128-cbc", "-d", "-K", hexKey, "-iv", hexIV, "-in", dir.path + "/ours.bin", "-out", dir.path + "/back.bin"])
        #expect(decrypted.status == 0, "\(decrypted.output)")
        #expect(FileManager.default.contents(atPath: dir.path + "/back.bin").map(Array.init) == plaintext)
        let encrypted = try await run("/usr/bin/openssl", ["aes-128-cbc", "-e", "-K", hexKey, "-iv", hexIV, "-in", dir.path + "/plain.bin", "-out", dir.path + "/theirs.bin"])
        #expect(encrypted.status == 0)
        let theirs = Array(FileManager.default.contents(atPath: dir.path + "/theirs.bin") ?? Data())
        #expect(try cipher.decrypt(theirs, iv: iv) == plaintext)
    }

    @Test("a wrong key, a truncated file and a bad key length are clear errors")
    func failures() throws {
        let cipher = try SegmentCipher(key: key)
        let ciphertext = try cipher.encrypt(patternBytes(1000), iv: SegmentCipher.iv(sequence: 1))
        #expect(throws: HLSError.self) { try cipher.decrypt(Array(ciphertext.dropLast(5)), iv: SegmentCipher.iv(sequence: 1)) }
        let other = try SegmentCipher(key: Array(repeating: 7, count: 16))
        // A wrong key almost always leaves invalid padding; when it does not, the bytes differ.
        if let garbage = try? other.decrypt(ciphertext, iv: SegmentCipher.iv(sequence: 1)) { #expect(garbage != patternBytes(1000)) }
        #expect(throws: HLSError.self) { try SegmentCipher(key: [1, 2, 3]) }
        #expect(SegmentCipher.makeKey() != SegmentCipher.makeKey())
    }
}
