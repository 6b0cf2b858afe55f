import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a viewer is when it gives neither coordinates nor a region: its address matched
/// against a table of IP prefixes (IPv4 and IPv6), the longest prefix winning.
///
/// The file has one prefix a line, then a place: `203.0.113.0/24 48.85 2.35` or
/// `2001:db8::/32 eu-west`; `#` starts a comment. Every line is checked when the file is read
/// and a bad one is refused with its number.
///
/// ## Performance characteristics
/// A look-up masks the address once per distinct prefix length in the table (at most 33 for
/// IPv4, 129 for IPv6), longest first, with one dictionary look-up each.
package struct GeoPrefixTable: Sendable {
    /// Per address length (4 or 16 bytes): prefix lengths, longest first, each with its
    /// masked prefixes.
    private var tables: [Int: [(length: Int, places: [[UInt8]: GeoPoint])]] = [:]
    package private(set) var count = 0

    package init() {}

    /// Parses the table's text.
    /// - Throws: ``StoreFailure`` (unavailable) naming the first bad line.
    package init(text: String) throws {
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.isEmpty { continue }
            func bad(_ why: String) -> StoreFailure { .unavailable("geo prefix table line \(number + 1): \(why): '\(raw.prefix(80))'") }
            let parts = fields[0].split(separator: "/")
            guard parts.count == 2, let bytes = Self.address(String(parts[0])), let length = Int(parts[1]), (0...bytes.count * 8).contains(length)
            else { throw bad("expected an IPv4 or IPv6 prefix such as 203.0.113.0/24") }
            let point: GeoPoint
            if fields.count == 3, let lat = Double(fields[1]), let lon = Double(fields[2]) {
                point = GeoPoint(latitude: lat, longitude: lon)
                guard point.isValid else { throw bad("\(lat), \(lon) is not a place on Earth") }
            } else if fields.count == 2, let region = Regions.point(fields[1]) {
                point = region
            } else {
                throw bad("expected LATITUDE LONGITUDE or a region (\(Regions.table.keys.sorted().joined(separator: ", ")))")
            }
            insert(Self.mask(bytes, to: length), length: length, point: point)
        }
    }

    /// The place of `address` (dotted IPv4 or IPv6 text), or nil when no prefix matches.
    package func place(of address: String) -> GeoPoint? {
        guard var bytes = Self.address(address) else { return nil }
        // An IPv4 address seen through an IPv6 socket (::ffff:a.b.c.d) matches IPv4 prefixes.
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff { bytes = Array(bytes[12...]) }
        for (length, places) in tables[bytes.count] ?? [] {
            if let point = places[Self.mask(bytes, to: length)] { return point }
        }
        return nil
    }

    private mutating func insert(_ prefix: [UInt8], length: Int, point: GeoPoint) {
        var table = tables[prefix.count] ?? []
        if let index = table.firstIndex(where: { $0.length == length }) {
            table[index].places[prefix] = point
        } else {
            table.append((length, [prefix: point]))
            table.sort { $0.length > $1.length }
        }
        tables[prefix.count] = table
        count += 1
    }

    static func mask(_ bytes: [UInt8], to length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, length - index * 8))
            return bits == 8 ? byte : byte & ~(0xff >> UInt8(bits))
        }
    }

    /// The bytes of an IPv4 or IPv6 address in text.
    static func address(_ text: String) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &bytes) == 1 { return Array(bytes[0..<4]) }
        if inet_pton(AF_INET6, text, &bytes) == 1 { return bytes }
        return nil
    }
}
