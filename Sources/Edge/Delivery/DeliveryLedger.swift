import DePINProtocol
import Foundation
import Synchronization

/// Counts what this edge delivers to each playback session (bytes, segments, the best time to
/// first byte) between two claims, and each title's distinct sessions between two heartbeats
/// (its audience, which the coordinator weighs against the edge's viewer capacity when it routes).
///
/// ## Performance characteristics
/// One lock, one dictionary update and one set insertion per counted response.
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
    private struct State {
        var tallies: [Key: Tally] = [:]
        /// Each title's sessions since the last ``drainAudience()``.
        var audience: [String: Set<String>] = [:]
        var audienceSessions = 0
    }
    private let state = Mutex(State())
    /// Sessions tallied at once at most; more are dropped (and said in the log by the caller).
    static let maxSessions = 1_000_000

    package init() {}

    /// Counts one response to a viewer.
    /// - Returns: false when the ledger is full and the response was not counted.
    @discardableResult
    package func record(content: String, session: String, bytes: Int, segment: Bool, ttfb: Duration, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Bool {
        guard bytes > 0 else { return true }
        let milliseconds = Int(ttfb.components.seconds * 1000 + ttfb.components.attoseconds / 1_000_000_000_000_000)
        return state.withLock { state in
            let key = Key(content: content, session: session)
            if state.tallies[key] == nil && state.tallies.count >= Self.maxSessions { return false }
            var tally = state.tallies[key] ?? Tally(firstAt: now, lastAt: now)
            tally.bytes += Int64(bytes)
            if segment { tally.segments += 1 }
            tally.ttfbMilliseconds = min(tally.ttfbMilliseconds, milliseconds)
            tally.lastAt = max(tally.lastAt, now)
            state.tallies[key] = tally
            if state.audienceSessions < Self.maxSessions, state.audience[content, default: []].insert(session).inserted {
                state.audienceSessions += 1
            }
            return true
        }
    }

    /// Each title's distinct sessions since the last call, the `limit` largest; the counts restart.
    package func drainAudience(limit: Int = HeartbeatRequest.maxAudienceTitles) -> [String: Int] {
        let taken = state.withLock { state in
            defer { (state.audience, state.audienceSessions) = ([:], 0) }
            return state.audience.mapValues(\.count)
        }
        guard taken.count > limit else { return taken }
        return Dictionary(uniqueKeysWithValues: taken.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(limit).map { ($0.key, $0.value) })
    }

    /// Everything counted since the last drain, as claims with new ids; the counts restart.
    package func drain() -> [DeliveryClaim] {
        let taken = state.withLock { state in
            defer { state.tallies = [:] }
            return state.tallies
        }
        return taken.map { key, tally in
            DeliveryClaim(
                id: DeliveryClaim.newID(), content: key.content, session: key.session, bytes: tally.bytes, segments: tally.segments,
                ttfbMilliseconds: tally.ttfbMilliseconds == .max ? 0 : tally.ttfbMilliseconds, firstAt: tally.firstAt, lastAt: tally.lastAt)
        }.sorted { ($0.content, $0.session) < ($1.content, $1.session) }
    }
}
