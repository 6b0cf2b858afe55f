/// A `Range` request header resolved against a representation's length (RFC 9110 §14).
///
/// Pure and allocation-light: the edge calls it for every request that carries `Range`.
package enum ByteRanges: Equatable, Sendable {
    /// No usable range: serve the whole representation with 200 (no header, another unit, or a
    /// zero-length representation).
    case whole
    /// Serve these ranges with 206 (one range: a single part; several: `multipart/byteranges`).
    case partial([Range<Int>])
    /// Answer 416 with `Content-Range: bytes */length`; `reason` says why.
    case unsatisfiable(reason: String)

    /// Most range specs accepted in one header; more is refused (RFC 9110 §14.2 allows refusing
    /// many small or overlapping ranges, a known denial-of-service pattern).
    package static let maxRanges = 16
    /// Longest `Range` header value accepted.
    package static let maxHeaderLength = 1024

    /// Resolves `header` against a representation of `length` bytes.
    ///
    /// - `a-b` (b clamped to the end), `a-`, `-n` (the last n bytes), several separated by commas.
    /// - Specs that start past the end are dropped; if none is left the answer is 416.
    /// - Overlapping or adjacent ranges are coalesced (sorted) so no byte is sent twice.
    /// - Malformed specs (`bytes=5-1`, `bytes=abc`, an empty list) are refused with a reason.
    package static func resolve(_ header: String, length: Int) -> ByteRanges {
        let utf8 = header.utf8
        guard utf8.count <= maxHeaderLength else {
            return .unsatisfiable(reason: "Range header is longer than \(maxHeaderLength) bytes")
        }
        guard let equals = utf8.firstIndex(of: UInt8(ascii: "=")) else {
            return .unsatisfiable(reason: "Range header has no '=': expected bytes=first-last")
        }
        let unit = String(decoding: utf8[..<equals], as: UTF8.self).trimmingWhitespace()
        // Another unit: ignore the header (RFC 9110 §14.2).
        guard unit.lowercased() == "bytes" else { return .whole }
        if length == 0 { return .whole }

        var specs: [Range<Int>] = []
        var count = 0
        for rawSpec in utf8[utf8.index(after: equals)...].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let spec = String(decoding: rawSpec, as: UTF8.self).trimmingWhitespace()
            if spec.isEmpty { continue }  // RFC 9110 list syntax tolerates empty elements
            count += 1
            guard count <= maxRanges else {
                return .unsatisfiable(reason: "more than \(maxRanges) ranges in one request")
            }
            guard let dash = spec.firstIndex(of: "-") else {
                return .unsatisfiable(reason: "range '\(spec.prefix(40))' has no '-'")
            }
            let first = spec[..<dash]
            let last = spec[spec.index(after: dash)...]
            if first.isEmpty {
                guard let suffix = parseNumber(last) else {
                    return .unsatisfiable(reason: "suffix range '\(spec.prefix(40))' is not -N with N a number")
                }
                if suffix == 0 { continue }  // unsatisfiable spec
                specs.append(max(0, length - suffix)..<length)
            } else {
                guard let start = parseNumber(first) else {
                    return .unsatisfiable(reason: "range '\(spec.prefix(40))' does not start with a number")
                }
                var end = length - 1
                if !last.isEmpty {
                    guard let stated = parseNumber(last) else {
                        return .unsatisfiable(reason: "range '\(spec.prefix(40))' does not end with a number")
                    }
                    guard stated >= start else {
                        return .unsatisfiable(reason: "range '\(spec.prefix(40))' ends before it starts")
                    }
                    end = min(stated, length - 1)
                }
                if start >= length { continue }  // unsatisfiable spec
                specs.append(start..<(end + 1))
            }
        }
        if count == 0 {
            return .unsatisfiable(reason: "Range header lists no ranges")
        }
        if specs.isEmpty {
            return .unsatisfiable(reason: "no requested range starts before the end of the \(length)-byte representation")
        }
        return .partial(coalesced(specs))
    }

    /// Sorts and merges ranges if any two overlap or touch; keeps the client's order otherwise.
    static func coalesced(_ ranges: [Range<Int>]) -> [Range<Int>] {
        guard ranges.count > 1 else { return ranges }
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = [sorted[0]]
        var touched = false
        for range in sorted.dropFirst() {
            if range.lowerBound <= merged[merged.count - 1].upperBound {
                merged[merged.count - 1] = merged[merged.count - 1].lowerBound..<max(merged[merged.count - 1].upperBound, range.upperBound)
                touched = true
            } else {
                merged.append(range)
            }
        }
        return touched ? merged : ranges
    }

    /// A non-negative decimal number; huge values saturate rather than overflow.
    static func parseNumber(_ text: Substring) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (plus, o2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            value = (o1 || o2) ? Int.max / 2 : plus
        }
        return value
    }
}

extension StringProtocol {
    /// Drops spaces and tabs at both ends (HTTP's OWS).
    package func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
