/// Least-recently-used eviction, kept only as the baseline that `scripts/bench-cache` compares
/// the production policy (``S3FIFOPolicy``) against.
///
/// ## Performance characteristics
/// O(1) per operation: a dictionary into an index-linked list held in arrays.
package struct LRUPolicy<Key: Hashable & Sendable>: EvictionPolicy {
    package static var name: String { "lru" }

    private struct Node {
        var key: Key?
        var prev: Int
        var next: Int
    }

    // nodes[0] is the sentinel: next = most recent, prev = least recent.
    private var nodes: [Node] = []
    private var free: [Int] = []
    private var index: [Key: Int] = [:]

    package init(capacity: Int) {
        nodes.append(Node(key: nil, prev: 0, next: 0))
    }

    package var count: Int { index.count }

    package mutating func recordHit(_ key: Key) {
        guard let i = index[key] else { return }
        unlink(i)
        linkFront(i)
    }

    package mutating func insert(_ key: Key, size: Int) {
        precondition(index[key] == nil, "LRUPolicy: \(key) inserted twice")
        let i: Int
        if let reused = free.popLast() {
            i = reused
            nodes[i] = Node(key: key, prev: 0, next: 0)
        } else {
            i = nodes.count
            nodes.append(Node(key: key, prev: 0, next: 0))
        }
        index[key] = i
        linkFront(i)
    }

    package mutating func evict() -> Key? {
        let last = nodes[0].prev
        guard last != 0, let key = nodes[last].key else { return nil }
        drop(key, at: last)
        return key
    }

    package mutating func remove(_ key: Key) {
        guard let i = index[key] else { return }
        drop(key, at: i)
    }

    private mutating func drop(_ key: Key, at i: Int) {
        unlink(i)
        nodes[i].key = nil
        index[key] = nil
        free.append(i)
    }

    private mutating func unlink(_ i: Int) {
        let (p, n) = (nodes[i].prev, nodes[i].next)
        nodes[p].next = n
        nodes[n].prev = p
    }

    private mutating func linkFront(_ i: Int) {
        let first = nodes[0].next
        nodes[i].prev = 0
        nodes[i].next = first
        nodes[first].prev = i
        nodes[0].next = i
    }
}
