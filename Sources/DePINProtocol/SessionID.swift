/// A playback session id as the coordinator issues it (in route answers and in playback tokens'
/// `sub`) and every party reads it: `ISSUED-RANDOM-MAC`, seconds since 1970 in decimal, 16
/// lowercase hex digits of randomness, and 32 of the coordinator's MAC over the title, the time
/// and the randomness. Only the coordinator can check the MAC; anyone can read the parts.
public enum SessionID {
    /// The id made of its parts.
    public static func format(issued: Int64, random: String, mac: UInt128) -> String { "\(issued)-\(random)-\(mac.hex)" }

    /// Reads `session` byte by byte (a claim path reads one a claim) and hands `body` its parts:
    /// when it was issued, its random digits and its MAC as a number; nil when it is not an id of
    /// this form.
    @inlinable
    public static func withParts<R>(of session: String, _ body: (Int64, Slice<UnsafeBufferPointer<UInt8>>, UInt128) -> R?) -> R? {
        var session = session
        return session.withUTF8 { bytes -> R? in
            guard bytes.count >= 51, bytes.count <= 70 else { return nil }
            let macStart = bytes.count - 32
            let randomStart = macStart - 17
            guard bytes[randomStart - 1] == UInt8(ascii: "-"), bytes[macStart - 1] == UInt8(ascii: "-") else { return nil }
            var issued: Int64 = 0
            for byte in bytes[0..<(randomStart - 1)] {
                guard (48...57).contains(byte), issued < Int64.max / 10 - 10 else { return nil }
                issued = issued * 10 + Int64(byte - 48)
            }
            guard randomStart > 1, let mac = UInt128.fromHex(bytes[macStart...]) else { return nil }
            let random = bytes[randomStart..<(macStart - 1)]
            guard random.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
            return body(issued, random, mac)
        }
    }

    /// The session's key: its MAC as a number (unchecked: for ids already accepted).
    public static func key(of session: String) -> UInt128? {
        guard session.utf8.count >= 32 else { return nil }
        return UInt128.fromHex(session.utf8.suffix(32))
    }

    /// When a session id says it was issued (unchecked: for ids already accepted).
    public static func issued(of session: String) -> Int64? {
        session.split(separator: "-", maxSplits: 1).first.flatMap { Int64($0) }
    }
}

extension UInt128 {
    /// 32 lowercase hex digits as a number; nil for anything else.
    ///
    /// Inlinable, as are its helpers: the claim path reads two a claim from another module,
    /// where an unspecialised generic call cost about 5% of a batched claim's CPU.
    @inlinable
    public static func fromHex(_ digits: some Collection<UInt8>) -> UInt128? {
        guard digits.count == 32 else { return nil }
        if let value = digits.withContiguousStorageIfAvailable(fromHex(buffer:)) { return value }
        return Array(digits).withUnsafeBufferPointer(fromHex(buffer:))
    }

    /// (Two 64-bit halves, every digit checked at the end: a claim path reads two a claim.)
    @inlinable
    static func fromHex(buffer digits: UnsafeBufferPointer<UInt8>) -> UInt128? {
        var halves: (UInt64, UInt64) = (0, 0)
        var bad: UInt8 = 0
        for index in 0..<16 {
            let (high, low) = (digits[index], digits[index + 16])
            halves.0 = halves.0 << 4 | UInt64(hexValue(high, bad: &bad))
            halves.1 = halves.1 << 4 | UInt64(hexValue(low, bad: &bad))
        }
        return bad == 0 ? UInt128(halves.0) << 64 | UInt128(halves.1) : nil
    }

    /// A lowercase hex digit's value; sets `bad` for anything else.
    @inlinable @inline(__always)
    static func hexValue(_ digit: UInt8, bad: inout UInt8) -> UInt8 {
        let number = digit &- 48
        let letter = digit &- 97
        if number < 10 { return number }
        if letter < 6 { return letter + 10 }
        bad = 1
        return 0
    }

    /// The number as 32 lowercase hex digits (``fromHex(_:)`` reads them back).
    public var hex: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 32 - digits.count) + digits
    }
}
