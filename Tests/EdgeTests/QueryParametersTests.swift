import Testing

@testable import Edge

@Suite("Query parameters read as bytes")
struct QueryParametersTests {
    @Test("the first pair named exactly so, its value as sent; nil when there is none")
    func values() {
        func value(_ query: String?) -> String? { QueryParameters.value("token", in: query.map { Substring($0) }).map(String.init) }
        #expect(value("token=abc") == "abc")
        #expect(value("x=1&token=a%2Bb&y=2") == "a%2Bb")
        #expect(value("tokens=1&xtoken=2&token=3&token=4") == "3", "a longer or shorter name is another parameter")
        #expect(value("token=") == "")
        #expect(value("&&token=v&") == "v")
        #expect(value("token&token2=1") == nil, "a name without = has no value")
        #expect(value("tok") == nil)
        #expect(value("") == nil)
        #expect(value(nil) == nil)
        #expect(value("é=1&token=ü") == "ü", "bytes past ASCII are offsets like any other")
        // A substring of a longer string: offsets are the substring's own.
        let target = "/v/a/b.ts?_HLS_msn=12&token=t"
        let query = target[target.index(after: target.firstIndex(of: "?")!)...]
        #expect(QueryParameters.value("_HLS_msn", in: query) == "12")
        #expect(QueryParameters.value("token", in: query) == "t")
    }

    @Test("a byte is found anywhere in a substring, and only in it")
    func contains() {
        let text = "%ab?cd"
        #expect(QueryParameters.contains(UInt8(ascii: "%"), in: text[...]))
        #expect(!QueryParameters.contains(UInt8(ascii: "%"), in: text.dropFirst()))
        #expect(QueryParameters.contains(UInt8(ascii: "d"), in: text.dropFirst()))
    }
}
