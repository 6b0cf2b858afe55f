/// Chooses which stored object leaves when the cache is over its byte budget.
///
/// The cache tells the policy about every hit and insertion and asks it for victims until the
/// bytes fit. Policies
/// are value types, driven from one lock (``EdgeCache``) or one loop (the simulator); they are
/// not thread-safe on their own. The same conformance suite runs against every policy.
package protocol EvictionPolicy<Key>: Sendable {
    associatedtype Key: Hashable & Sendable

    /// A short name for reports (`s3fifo`, `lru`).
    static var name: String { get }

    /// Makes an empty policy for a cache of `capacity` bytes.
    init(capacity: Int)

    /// A request found `key` stored.
    mutating func recordHit(_ key: Key)

    /// `key` (`size` bytes) has just been stored Must not be present already.
    mutating func insert(_ key: Key, size: Int)

    /// Picks the next object to evict and forgets it; `nil` when the policy holds nothing.
    mutating func evict() -> Key?

    /// Forgets `key` without evicting through the policy (it was deleted or found corrupt).
    mutating func remove(_ key: Key)

    /// How many objects the policy holds.
    var count: Int { get }
}
