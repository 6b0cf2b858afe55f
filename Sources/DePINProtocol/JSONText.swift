/// JSON string literals written by hand on hot paths (route answers, tokens), escaped as
/// RFC 8259 requires, and the decimal numbers of receipt leaves and claim lines.
public enum JSONText {
    /// Appends `text` as a quoted JSON string.
    public static func append(_ text: String, to out: inout String) {
        out += "\""
        // Ids, hex and base64 need no escaping: append them whole.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += text
            out += "\""
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// Appends the decimal digits of `value` (after a `-` when it is negative) to `bytes`,
    /// without making a String of them: claim lines and receipt leaves hold six numbers each.
    public static func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxDecimalBytes) { digits in
            bytes.append(contentsOf: UnsafeMutableBufferPointer(rebasing: digits[..<writeDecimal(value, to: digits, at: 0)]))
        }
    }

    /// The most bytes ``writeDecimal(_:to:at:)`` writes (`-9223372036854775808`).
    public static let maxDecimalBytes = 20

    /// Writes the decimal digits of `value` (after a `-` when it is negative) into `buffer`
    /// from `start`, which must leave room for ``maxDecimalBytes``; answers how many it wrote.
    public static func writeDecimal(_ value: Int64, to buffer: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        var count = start
        if value < 0 {
            buffer[count] = UInt8(ascii: "-")
            count += 1
        }
        let first = count
        var magnitude = value.magnitude
        repeat {
            buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            count += 1
            magnitude /= 10
        } while magnitude > 0
        var digits = UnsafeMutableBufferPointer(rebasing: buffer[first..<count])
        digits.reverse()
        return count - start
    }

    /// Lowercase hex of `bytes` (without `String(format:)`, which costs microseconds a byte).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of hex text (either case); nil when it is not an even number of hex digits.
    public static func bytes(hex: String) -> [UInt8]? { bytes(hex: hex.utf8) }

    /// The bytes of hex text given as its UTF-8 bytes.
    public static func bytes(hex: some Collection<UInt8>) -> [UInt8]? {
        let utf8 = Array(hex)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        for i in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// `text` as a quoted JSON string.
    public static func quoted(_ text: String) -> String {
        var out = ""
        append(text, to: &out)
        return out
    }
}
