import Testing

@testable import ServerGuards

@Suite("Oldest-first map")
struct OldestFirstMapTests {
    @Test("past its capacity it forgets the oldest key first; updating a key keeps its place; a removed key is gone")
    func forgetsOldestFirst() {
        var map = OldestFirstMap<String, Int>(capacity: 2)
        map["a"] = 1
        map["b"] = 2
        map["a"] = 10  // an update, not a new key: "a" is still the oldest
        map["c"] = 3
        #expect(map["a"] == nil)
        #expect(map["b"] == 2 && map["c"] == 3)
        #expect(map.count == 2)
        map["b"] = nil
        map["d"] = 4
        #expect(map["c"] == 3 && map["d"] == 4 && map.count == 2)
    }
}
