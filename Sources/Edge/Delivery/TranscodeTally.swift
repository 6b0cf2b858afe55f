import DePINProtocol
import Synchronization

/// Rendition segments this edge made and has not yet reported to the coordinator
/// (`POST /v1/transcodes`): the work its transcoding rewards are counted from. The coordinator
/// records a report once, so one sent twice after a lost answer counts once.
package final class TranscodeTally: Sendable {
    private let pending = Mutex<[MadeRendition]>([])
    /// Reports kept at most while the coordinator is unreachable (the oldest are dropped first).
    static let limit = 100_000

    package init() {}

    package func add(_ made: [MadeRendition]) {
        pending.withLock { pending in
            pending += made
            if pending.count > Self.limit { pending.removeFirst(pending.count - Self.limit) }
        }
    }

    /// Up to `count` reports, taken out (``restore(_:)`` puts them back when sending fails).
    func take(_ count: Int) -> [MadeRendition] {
        pending.withLock { pending in
            let taken = Array(pending.prefix(count))
            pending.removeFirst(taken.count)
            return taken
        }
    }

    func restore(_ made: [MadeRendition]) { pending.withLock { $0.insert(contentsOf: made, at: 0) } }
}
