import Testing

@testable import Edge

@Suite("Byte ranges (RFC 9110 §14)")
struct ByteRangesTests {
    @Test(
        "single ranges resolve and clamp",
        arguments: [
            ("bytes=0-99", [0..<100]), ("bytes=100-", [100..<1000]), ("bytes=-100", [900..<1000]),
            ("bytes=990-2000", [990..<1000]), ("bytes=-5000", [0..<1000]), ("bytes=999-999", [999..<1000]),
            ("BYTES = 0-0", [0..<1]), ("bytes=0-99, ", [0..<100]), ("bytes=0-99999999999999999999999", [0..<1000]),
        ])
    func single(header: String, expected: [Range<Int>]) {
        #expect(ByteRanges.resolve(header, length: 1000) == .partial(expected))
    }

    @Test("several ranges keep their order unless they overlap, then are merged")
    func several() {
        #expect(ByteRanges.resolve("bytes=500-599,0-9", length: 1000) == .partial([500..<600, 0..<10]))
        #expect(ByteRanges.resolve("bytes=0-99,50-149,-10", length: 1000) == .partial([0..<150, 990..<1000]))
        #expect(ByteRanges.resolve("bytes=0-9,10-19", length: 1000) == .partial([0..<20]))
        // A spec past the end is dropped when another is satisfiable.
        #expect(ByteRanges.resolve("bytes=5000-,0-1", length: 1000) == .partial([0..<2]))
    }

    @Test(
        "unsatisfiable and malformed ranges are refused",
        arguments: [
            "bytes=1000-", "bytes=1000-1001", "bytes=-0", "bytes=5-1", "bytes=abc", "bytes=1-x", "bytes=--5",
            "bytes=", "bytes=,", "bytes", "bytes=0-1," + String(repeating: "2-3,", count: 20),
        ])
    func refused(header: String) {
        guard case .unsatisfiable = ByteRanges.resolve(header, length: 1000) else {
            Issue.record("\(header) was accepted")
            return
        }
    }

    @Test("another unit, or an empty representation, means the whole thing")
    func ignored() {
        #expect(ByteRanges.resolve("items=0-5", length: 1000) == .whole)
        #expect(ByteRanges.resolve("bytes=0-5", length: 0) == .whole)
    }

    @Test("a header longer than the cap is refused")
    func longHeader() {
        guard case .unsatisfiable = ByteRanges.resolve("bytes=0-1" + String(repeating: " ", count: 2000), length: 10) else {
            Issue.record("accepted")
            return
        }
    }
}

@Suite("Conditional requests (RFC 9110 §13)")
struct PreconditionsTests {
    let validators = Preconditions.Validators(etag: "\"abc\"", lastModified: 1_000_000, now: 2_000_000)
    let lastModified = HTTPDate.format(1_000_000)
    let earlier = HTTPDate.format(999_999)

    func evaluate(
        ifMatch: String? = nil, ifUnmodifiedSince: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: String? = nil,
        ifRange: String? = nil, hasRange: Bool = false
    ) -> Preconditions {
        Preconditions.evaluate(
            ifMatch: ifMatch, ifUnmodifiedSince: ifUnmodifiedSince, ifNoneMatch: ifNoneMatch, ifModifiedSince: ifModifiedSince,
            ifRange: ifRange, hasRange: hasRange, validators: validators)
    }

    @Test("If-None-Match: lists, weak tags and * give 304; other tags proceed")
    func ifNoneMatch() {
        #expect(evaluate(ifNoneMatch: "\"abc\"") == .notModified)
        #expect(evaluate(ifNoneMatch: "\"x\", W/\"abc\"") == .notModified)
        #expect(evaluate(ifNoneMatch: "*") == .notModified)
        #expect(evaluate(ifNoneMatch: "\"x\",\"y\"") == .proceed(honourRange: true))
        // If-None-Match wins over If-Modified-Since.
        #expect(evaluate(ifNoneMatch: "\"x\"", ifModifiedSince: lastModified) == .proceed(honourRange: true))
    }

    @Test("If-Modified-Since gives 304 unless changed since; invalid dates are ignored")
    func ifModifiedSince() {
        #expect(evaluate(ifModifiedSince: lastModified) == .notModified)
        #expect(evaluate(ifModifiedSince: earlier) == .proceed(honourRange: true))
        #expect(evaluate(ifModifiedSince: "yesterday") == .proceed(honourRange: true))
    }

    @Test("If-Match and If-Unmodified-Since fail with 412")
    func failing() {
        #expect(evaluate(ifMatch: "\"nope\"") == .failed)
        #expect(evaluate(ifMatch: "W/\"abc\"") == .failed, "If-Match uses strong comparison")
        #expect(evaluate(ifMatch: "\"abc\"") == .proceed(honourRange: true))
        #expect(evaluate(ifUnmodifiedSince: earlier) == .failed)
        #expect(evaluate(ifUnmodifiedSince: lastModified) == .proceed(honourRange: true))
    }

    @Test("If-Range: strong tag or exact strong date honours the range; weak or stale ones do not")
    func ifRange() {
        #expect(evaluate(ifRange: "\"abc\"", hasRange: true) == .proceed(honourRange: true))
        #expect(evaluate(ifRange: "W/\"abc\"", hasRange: true) == .proceed(honourRange: false))
        #expect(evaluate(ifRange: "\"old\"", hasRange: true) == .proceed(honourRange: false))
        #expect(evaluate(ifRange: lastModified, hasRange: true) == .proceed(honourRange: true))
        #expect(evaluate(ifRange: earlier, hasRange: true) == .proceed(honourRange: false))
        let fresh = Preconditions.Validators(etag: nil, lastModified: 1_000_000, now: 1_000_000)
        #expect(
            Preconditions.evaluate(
                ifMatch: nil, ifUnmodifiedSince: nil, ifNoneMatch: nil, ifModifiedSince: nil, ifRange: lastModified, hasRange: true,
                validators: fresh) == .proceed(honourRange: false), "a date is weak within a second of now")
    }
}

@Suite("HTTP dates")
struct HTTPDateTests {
    @Test("formats IMF-fixdate and reads all three formats")
    func roundTrip() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == 784_111_777)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 25:49:37 GMT") == nil)
        #expect(HTTPDate.parse("garbage") == nil)
    }
}
