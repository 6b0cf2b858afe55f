import DePINProtocol
import Foundation
import Synchronization

/// Counts what this edge delivers to each playback session (bytes, segments, the best time to
/// first byte) between two claims.
///
/// ## Performance characteristics
/// One lock and one dictionary update per counted response.
package final class DeliveryLedger: Sendable {
    struct Tally: Sendable {
        var bytes: Int64 = 0
        var segments = 0
        var ttfbMilliseconds = Int.max
        var firstAt: Int64
        var lastAt: Int64
    }
    private struct Key: Hashable {
        var content: String
        var session: String
    }
    private let tallies = Mutex<[Key: Tally]>([:])
    /// Sessions tallied at once at most; more are dropped (and said in the log by the caller).
    static let maxSessions = 1_000_000

    package init() {}

    /// Counts one response to a viewer.
    /// - Returns: false when the ledger is full and the response was not counted.
    @discardableResult
    package func record(content: String, session: String, bytes: Int, segment: Bool, ttfb: Duration, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Bool {
        guard bytes > 0 else { return true }
        let milliseconds = Int(ttfb.components.seconds * 1000 + ttfb.components.attoseconds / 1_000_000_000_000_000)
        return tallies.withLock { tallies in
            let key = Key(content: content, session: session)
            if tallies[key] == nil && tallies.count >= Self.maxSessions { return false }
            var tally = tallies[key] ?? Tally(firstAt: now, lastAt: now)
            tally.bytes += Int64(bytes)
            if segment { tally.segments += 1 }
            tally.ttfbMilliseconds = min(tally.ttfbMilliseconds, milliseconds)
            tally.lastAt = max(tally.lastAt, now)
            tallies[key] = tally
            return true
        }
    }

    /// Everything counted since the last drain, as claims with new ids; the counts restart.
    package func drain() -> [DeliveryClaim] {
        let taken = tallies.withLock { tallies in
            defer { tallies = [:] }
            return tallies
        }
        return taken.map { key, tally in
            DeliveryClaim(
                id: DeliveryClaim.newID(), content: key.content, session: key.session, bytes: tally.bytes, segments: tally.segments,
                ttfbMilliseconds: tally.ttfbMilliseconds == .max ? 0 : tally.ttfbMilliseconds, firstAt: tally.firstAt, lastAt: tally.lastAt)
        }.sorted { ($0.content, $0.session) < ($1.content, $1.session) }
    }
}
