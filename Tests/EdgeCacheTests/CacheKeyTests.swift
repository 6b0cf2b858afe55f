import Testing

@testable import EdgeCache

@Suite("Cache keys")
struct CacheKeyTests {
    @Test("accepts content ids and nested HLS paths")
    func acceptsValid() throws {
        let key = try CacheKey(content: "big-buck_bunny.v2", path: "720p/12.ts")
        #expect(key.description == "big-buck_bunny.v2/720p/12.ts")
        #expect(key.fileExtension == "ts")
        #expect(try CacheKey(content: "a", path: "master.M3U8").fileExtension == "m3u8")
    }

    @Test(
        "refuses traversal, separators and odd characters",
        arguments: [
            ("..", "x.ts"), (".", "x.ts"), ("a", "../x.ts"), ("a", "b/../../x.ts"), ("a", "/etc/passwd"),
            ("a", "b//c.ts"), ("a", "b\\c.ts"), ("a/b", "c.ts"), ("a", "x.ts/"), ("", "x.ts"), ("a", ""),
            ("a", "b/./c.ts"), ("a", "c%2f.ts"), ("a", "c\u{0}.ts"), ("a", "ü.ts"),
        ])
    func refusesInvalid(content: String, path: String) {
        #expect(throws: CacheKeyError.self) { try CacheKey(content: content, path: path) }
    }

    @Test("refuses over-long and over-deep keys")
    func refusesLong() {
        #expect(throws: CacheKeyError.self) { try CacheKey(content: String(repeating: "a", count: 129), path: "x.ts") }
        #expect(throws: CacheKeyError.self) { try CacheKey(content: "a", path: String(repeating: "b", count: 513)) }
        #expect(throws: CacheKeyError.self) { try CacheKey(content: "a", path: Array(repeating: "d", count: 9).joined(separator: "/")) }
    }
}
