import Foundation

/// Reads a `POST /v1/claims` body byte by byte: a coordinator decodes claims by the hundred
/// thousand, and Foundation's `JSONDecoder` spent more on each than checking it. It is as
/// strict as ``StrictJSON``: an object with `claims` alone, each claim an object with exactly
/// the fields of ``DeliveryClaim`` (strings and whole numbers), nothing after the value; every
/// failure says what was wrong the same way.
struct ClaimBatchParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var at = 0

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(ProtocolError) -> [DeliveryClaim] {
        var parser = ClaimBatchParser(bytes: bytes)
        var claims: [DeliveryClaim]?
        try parser.object(path: "") { parser, key throws(ProtocolError) in
            guard key.is("claims") else { throw ProtocolError.invalid("unknown field '\(key.text)' (known: claims)") }
            claims = try parser.claimList()
        }
        parser.skipSpace()
        guard parser.at == bytes.count else { throw ProtocolError.invalid("the body is not JSON") }
        guard let claims else { throw ProtocolError.invalid("missing field 'claims'") }
        return claims
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func claimList() throws(ProtocolError) -> [DeliveryClaim] {
        skipSpace()
        guard peek == UInt8(ascii: "[") else { throw ProtocolError.invalid("field 'claims' has the wrong type") }
        at += 1
        var claims: [DeliveryClaim] = []
        skipSpace()
        if peek == UInt8(ascii: "]") {
            at += 1
            return claims
        }
        while true {
            claims.append(try claim(index: claims.count))
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "]"):
                at += 1
                return claims
            default: throw ProtocolError.invalid("the body is not JSON")
            }
        }
    }

    private mutating func claim(index: Int) throws(ProtocolError) -> DeliveryClaim {
        // (Paths for error messages are made only when there is an error.)
        let path = { "claims.\(index)" }
        var id: String?
        var content: String?
        var session: String?
        var bytes: Int64?
        var segments: Int64?
        var ttfb: Int64?
        var firstAt: Int64?
        var lastAt: Int64?
        try object(path: path()) { parser, key throws(ProtocolError) in
            if key.is("id") {
                id = try parser.string(path: path() + ".id")
            } else if key.is("content") {
                content = try parser.string(path: path() + ".content")
            } else if key.is("session") {
                session = try parser.string(path: path() + ".session")
            } else if key.is("bytes") {
                bytes = try parser.integer(path: path() + ".bytes")
            } else if key.is("segments") {
                segments = try parser.integer(path: path() + ".segments")
            } else if key.is("ttfbMilliseconds") {
                ttfb = try parser.integer(path: path() + ".ttfbMilliseconds")
            } else if key.is("firstAt") {
                firstAt = try parser.integer(path: path() + ".firstAt")
            } else if key.is("lastAt") {
                lastAt = try parser.integer(path: path() + ".lastAt")
            } else {
                throw ProtocolError.invalid(
                    "unknown field '\(path()).\(key.text)' (known: bytes, content, firstAt, id, lastAt, segments, session, ttfbMilliseconds)")
            }
        }
        guard let id else { throw ProtocolError.invalid("missing field 'id'") }
        guard let content else { throw ProtocolError.invalid("missing field 'content'") }
        guard let session else { throw ProtocolError.invalid("missing field 'session'") }
        guard let bytes else { throw ProtocolError.invalid("missing field 'bytes'") }
        guard let segments else { throw ProtocolError.invalid("missing field 'segments'") }
        guard let ttfb else { throw ProtocolError.invalid("missing field 'ttfbMilliseconds'") }
        guard let firstAt else { throw ProtocolError.invalid("missing field 'firstAt'") }
        guard let lastAt else { throw ProtocolError.invalid("missing field 'lastAt'") }
        guard let segmentCount = Int(exactly: segments), let ttfbCount = Int(exactly: ttfb) else {
            throw ProtocolError.invalid("field '\(path()).segments' has the wrong type")
        }
        return DeliveryClaim(
            id: id, content: content, session: session, bytes: bytes, segments: segmentCount, ttfbMilliseconds: ttfbCount, firstAt: firstAt,
            lastAt: lastAt)
    }

    /// A key as read: its bytes in the body when it has no escapes, else its text.
    private struct Key {
        var raw: UnsafeBufferPointer<UInt8>?
        var decoded: String?

        func `is`(_ name: StaticString) -> Bool {
            let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            if let raw { return raw.count == expected.count && (raw.isEmpty || memcmp(raw.baseAddress!, expected.baseAddress!, raw.count) == 0) }
            return decoded.map { $0.utf8.elementsEqual(expected) } ?? false
        }

        var text: String { decoded ?? String(decoding: raw!, as: UTF8.self) }
    }

    /// An object, handing each key to `field`, which must read the value.
    private mutating func object(path: @autoclosure () -> String, _ field: (inout ClaimBatchParser, Key) throws(ProtocolError) -> Void)
        throws(ProtocolError)
    {
        skipSpace()
        guard peek == UInt8(ascii: "{") else {
            let path = path()
            guard path.isEmpty else { throw ProtocolError.invalid("field '\(path)' has the wrong type") }
            // Another JSON value, or not JSON at all.
            let rest = bytes[at...]
            let another =
                peek.map(Array("[\"-0123456789".utf8).contains) == true || ["true", "false", "null"].contains { rest.starts(with: $0.utf8) }
            throw ProtocolError.invalid(another ? "the body has the wrong type: a JSON object is expected" : "the body is not JSON")
        }
        at += 1
        skipSpace()
        if peek == UInt8(ascii: "}") {
            at += 1
            return
        }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw ProtocolError.invalid("the body is not JSON") }
            let key = try self.key(path: path())
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw ProtocolError.invalid("the body is not JSON") }
            at += 1
            try field(&self, key)
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): at += 1
            case UInt8(ascii: "}"):
                at += 1
                return
            default: throw ProtocolError.invalid("the body is not JSON")
            }
        }
    }

    /// A key: its bytes where it has no escapes (no String made), else as ``string(path:)`` reads it.
    private mutating func key(path: @autoclosure () -> String) throws(ProtocolError) -> Key {
        let start = at + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            at = end + 1
            return Key(raw: UnsafeBufferPointer(rebasing: bytes[start..<end]))
        }
        return Key(decoded: try string(path: path()))
    }

    private mutating func string(path: @autoclosure () -> String) throws(ProtocolError) -> String {
        skipSpace()
        guard peek == UInt8(ascii: "\"") else { throw ProtocolError.invalid("field '\(path())' has the wrong type") }
        at += 1
        let start = at
        // The common case: no escapes.
        while at < bytes.count, bytes[at] != UInt8(ascii: "\""), bytes[at] != UInt8(ascii: "\\"), bytes[at] >= 0x20 { at += 1 }
        guard at < bytes.count else { throw ProtocolError.invalid("the body is not JSON") }
        if bytes[at] == UInt8(ascii: "\"") {
            defer { at += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        }
        var out = Array(bytes[start..<at])
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { break }
                let escaped = bytes[at]
                at += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    guard at + 4 <= bytes.count,
                        let unit = UInt16(String(decoding: UnsafeBufferPointer(rebasing: bytes[at..<at + 4]), as: UTF8.self), radix: 16)
                    else { throw ProtocolError.invalid("the body is not JSON") }
                    at += 4
                    // Lone surrogates become U+FFFD; ids with them are refused later anyway.
                    out += Array(String(Unicode.Scalar(unit).map(Character.init) ?? "\u{FFFD}").utf8)
                default: throw ProtocolError.invalid("the body is not JSON")
                }
            case 0..<0x20: throw ProtocolError.invalid("the body is not JSON")
            default: out.append(byte)
            }
        }
        throw ProtocolError.invalid("the body is not JSON")
    }

    private mutating func integer(path: @autoclosure () -> String) throws(ProtocolError) -> Int64 {
        skipSpace()
        let negative = peek == UInt8(ascii: "-")
        if negative { at += 1 }
        let start = at
        var value: Int64 = 0
        while at < bytes.count, (48...57).contains(bytes[at]) {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = shifted.addingReportingOverflow(Int64(bytes[at] - 48))
            guard !overflow1, !overflow2 else { throw ProtocolError.invalid("field '\(path())' has the wrong type") }
            value = added
            at += 1
        }
        // A fraction, an exponent or no digits at all is not a whole number.
        guard at > start, at == bytes.count || !(bytes[at] == UInt8(ascii: ".") || bytes[at] | 0x20 == UInt8(ascii: "e")) else {
            throw ProtocolError.invalid("field '\(path())' has the wrong type")
        }
        return negative ? -value : value
    }

    private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func skipSpace() {
        while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 { at += 1 }
    }
}
