/// Where an object sits in what viewers read in order: its title (`title`, any stable number for
/// the content id), the rendition's playlist (`stream`, any stable number) and the segment's media
/// sequence number (`index`).
package struct SequenceHint: Hashable, Sendable {
    package var title: Int
    package var stream: Int
    package var index: Int

    package init(title: Int, stream: Int, index: Int) {
        self.title = title
        self.stream = stream
        self.index = index
    }
}

/// Chooses which stored object leaves when the cache is over its byte budget.
///
/// The cache tells the policy about every hit and insertion and asks it for victims until the
/// bytes fit. `now` is a monotonic time in seconds (the simulator passes trace time). Policies
/// are value types, driven from one lock (``EdgeCache``) or one loop (the simulator); they are
/// not thread-safe on their own. The same conformance suite runs against every policy.
package protocol EvictionPolicy<Key>: Sendable {
    associatedtype Key: Hashable & Sendable

    /// A short name for reports (`s3fifo-lookahead`, `lru`).
    static var name: String { get }

    /// Makes an empty policy for a cache of `capacity` bytes.
    init(capacity: Int)

    /// A request found `key` stored.
    mutating func recordHit(_ key: Key, hint: SequenceHint?, now: Double)

    /// `key` (`size` bytes) has just been stored after a miss. Must not be present already.
    mutating func insert(_ key: Key, size: Int, hint: SequenceHint?, now: Double)

    /// Picks the next object to evict and forgets it; `nil` when the policy holds nothing.
    mutating func evict(now: Double) -> Key?

    /// Forgets `key` without evicting through the policy (it was deleted or found corrupt).
    mutating func remove(_ key: Key)

    /// How many objects the policy holds.
    var count: Int { get }
}
