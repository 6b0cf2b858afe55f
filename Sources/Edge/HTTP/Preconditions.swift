/// The outcome of a request's conditional headers (RFC 9110 §13.2.2), evaluated in the RFC's order.
package enum Preconditions: Equatable, Sendable {
    /// Carry on; `honourRange` is false when `If-Range` did not match (send the whole thing).
    case proceed(honourRange: Bool)
    /// 304 Not Modified.
    case notModified
    /// 412 Precondition Failed.
    case failed

    /// The validators the edge has for a representation.
    package struct Validators: Sendable {
        /// Strong entity tag, quoted (`"abc"`); nil while unknown (an object still filling).
        package var etag: String?
        /// Seconds since 1970.
        package var lastModified: Int64
        /// Now, seconds since 1970 (a date is a strong validator only if at least a second old).
        package var now: Int64

        package init(etag: String?, lastModified: Int64, now: Int64) {
            self.etag = etag
            self.lastModified = lastModified
            self.now = now
        }
    }

    /// Evaluates the conditional headers of a GET or HEAD.
    package static func evaluate(
        ifMatch: String?, ifUnmodifiedSince: String?, ifNoneMatch: String?, ifModifiedSince: String?,
        ifRange: String?, hasRange: Bool, validators v: Validators
    ) -> Preconditions {
        if let ifMatch {
            if !matches(ifMatch, etag: v.etag, weak: false) { return .failed }
        } else if let ifUnmodifiedSince, let date = HTTPDate.parse(ifUnmodifiedSince) {
            if v.lastModified > date { return .failed }
        }
        if let ifNoneMatch {
            if matches(ifNoneMatch, etag: v.etag, weak: true) { return .notModified }
        } else if let ifModifiedSince, let date = HTTPDate.parse(ifModifiedSince) {
            if v.lastModified <= date { return .notModified }
        }
        guard hasRange, let ifRange = ifRange?.trimmingWhitespace() else { return .proceed(honourRange: true) }
        if ifRange.hasPrefix("\"") || ifRange.hasPrefix("W/") {
            // Strong comparison: a weak tag never matches (RFC 9110 §13.1.5).
            return .proceed(honourRange: !ifRange.hasPrefix("W/") && v.etag == ifRange)
        }
        guard let date = HTTPDate.parse(ifRange) else { return .proceed(honourRange: false) }
        // A date validates only if Last-Modified is strong: at least a second before now.
        return .proceed(honourRange: date == v.lastModified && v.lastModified < v.now - 1)
    }

    /// Whether an `If-Match`/`If-None-Match` list (or `*`) matches `etag`.
    static func matches(_ list: String, etag: String?, weak: Bool) -> Bool {
        let trimmed = list.trimmingWhitespace()
        if trimmed == "*" { return true }
        guard let etag else { return false }
        for candidate in splitEntityTags(trimmed) {
            if candidate.hasPrefix("W/") {
                if weak && String(candidate.dropFirst(2)) == etag { return true }
            } else if candidate == etag {
                return true
            }
        }
        return false
    }

    /// Splits `"a", W/"b","c,d"` into its tags, keeping commas inside quotes.
    static func splitEntityTags(_ list: String) -> [String] {
        var tags: [String] = []
        var current = ""
        var quoted = false
        for c in list {
            if c == "\"" { quoted.toggle() }
            if c == "," && !quoted {
                let t = current.trimmingWhitespace()
                if !t.isEmpty { tags.append(t) }
                current = ""
            } else {
                current.append(c)
            }
        }
        let t = current.trimmingWhitespace()
        if !t.isEmpty { tags.append(t) }
        return tags
    }
}
