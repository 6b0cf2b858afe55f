/// Reads `name=value` pairs of a request's query as bytes, not characters: it runs for every
/// request (the token) and for every request a live edge holds (`_HLS_msn`, `_HLS_part`,
/// `_HLS_skip`).
enum QueryParameters {
    /// The value of the first `name=value` pair of `query`, as sent (not percent-decoded), or nil.
    static func value(_ name: StaticString, in query: Substring?) -> Substring? {
        guard let query else { return nil }
        let wanted = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        var rest = query.utf8[...]
        while !rest.isEmpty {
            let end = rest.firstIndex(of: UInt8(ascii: "&")) ?? rest.endIndex
            let pair = rest[..<end]
            if pair.starts(with: wanted), pair.dropFirst(wanted.count).first == UInt8(ascii: "=") {
                return Substring(pair.dropFirst(wanted.count + 1))
            }
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
        }
        return nil
    }
}
