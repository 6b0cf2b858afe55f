import DequeModule

/// A dictionary of at most `capacity` entries that forgets the oldest key first: what a server
/// remembers per client, token or id it cannot vouch for, so that anyone sending new keys makes
/// it forget old ones instead of growing (and never stops it remembering new ones).
///
/// ## Performance characteristics
/// Look-ups, inserts and evictions are constant time: a dictionary and a queue of keys in the
/// order they were first inserted (removing a key is linear). Not thread-safe; keep it behind
/// a lock.
package struct OldestFirstMap<Key: Hashable, Value> {
    package let capacity: Int
    private var entries: [Key: Value] = [:]
    private var order: Deque<Key> = []

    package init(capacity: Int) {
        precondition(capacity > 0, "OldestFirstMap: the capacity must be positive")
        self.capacity = capacity
    }

    package var count: Int { entries.count }

    /// The value for `key`; setting a new key may forget the oldest one.
    package subscript(key: Key) -> Value? {
        get { entries[key] }
        set {
            guard let newValue else {
                if entries.removeValue(forKey: key) != nil, let index = order.firstIndex(of: key) { order.remove(at: index) }
                return
            }
            if entries.updateValue(newValue, forKey: key) == nil { order.append(key) }
            while order.count > capacity, let oldest = order.popFirst() { entries[oldest] = nil }
        }
    }
}
