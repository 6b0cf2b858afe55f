import DePINProtocol
import Foundation
import Synchronization

/// What the dashboard's pages share between requests, so that however many pages are open the
/// store's claims are scanned at most once per ``trafficSeconds`` and a settled epoch's report is
/// decoded once (it never changes).
///
/// Thread-safe: each part behind a `Mutex`; a scan runs outside the lock (two requests that find
/// the figures stale at once may both scan; the later result stands).
///
/// ## Performance characteristics
/// A page costs dictionary look-ups while the figures are fresh; a scan reads the claims of the
/// last 24 hours once and keeps 24 numbers per node and per title that had traffic.
package final class DashboardMemo: Sendable {
    /// Receipted traffic in 24 hourly buckets: the current hour and the 23 before it.
    struct Traffic: Sendable {
        /// The first bucket's start (Unix seconds, on the hour).
        var from: Int64
        var builtAt: Int64
        var byNode: [String: [HourTraffic]] = [:]
        var byContent: [String: [HourTraffic]] = [:]
        var sessionsByContent: [String: Int] = [:]
        var bytes: Int64 = 0
        var receipts = 0

        /// Empty buckets for the window.
        var empty: [HourTraffic] { (0..<24).map { HourTraffic(hour: from + Int64($0) * 3600, bytes: 0, receipts: 0) } }
        func node(_ id: String) -> [HourTraffic] { byNode[id] ?? empty }
        func content(_ id: String) -> [HourTraffic] { byContent[id] ?? empty }
    }

    /// How long scanned traffic figures are shown before the claims are scanned again.
    static let trafficSeconds: Int64 = 30
    private let traffic = Mutex<Traffic?>(nil)
    private let reports = Mutex<[Int64: EpochReport]>([:])

    /// The traffic figures, scanned again with `claims` when older than ``trafficSeconds``.
    func traffic(now: Int64, claims: (_ from: Int64, _ to: Int64) async throws -> [ClaimRecord]) async throws -> Traffic {
        if let known = traffic.withLock({ $0 }), now - known.builtAt < Self.trafficSeconds, known.from == Self.windowStart(now) { return known }
        let built = Self.traffic(try await claims(Self.windowStart(now), now + 1), now: now)
        traffic.withLock { $0 = built }
        return built
    }

    /// The first hour of the 24 that end with the one `now` is in.
    static func windowStart(_ now: Int64) -> Int64 { now - ((now % 3600) + 3600) % 3600 - 23 * 3600 }

    /// Buckets `claims` (those outside the window are left out).
    static func traffic(_ claims: [ClaimRecord], now: Int64) -> Traffic {
        var out = Traffic(from: windowStart(now), builtAt: now)
        let empty = out.empty
        var sessions: [String: Set<String>] = [:]
        for claim in claims {
            let index = Int((claim.acceptedAt - out.from) / 3600)
            guard claim.acceptedAt >= out.from, index < 24 else { continue }
            out.byNode[claim.node, default: empty][index].add(claim)
            out.byContent[claim.content, default: empty][index].add(claim)
            sessions[claim.content, default: []].insert(claim.session)
            out.bytes += claim.bytes
            out.receipts += 1
        }
        out.sessionsByContent = sessions.mapValues(\.count)
        return out
    }

    /// A settled epoch's report, decoded once; nil when it does not decode.
    func report(_ record: EpochRecord) -> EpochReport? {
        if let known = reports.withLock({ $0[record.epoch] }) { return known }
        guard let report = try? JSONDecoder().decode(EpochReport.self, from: Data(record.report.utf8)) else { return nil }
        reports.withLock { reports in
            if reports.count >= 64 { reports.removeAll() }
            reports[record.epoch] = report
        }
        return report
    }
}

extension HourTraffic {
    fileprivate mutating func add(_ claim: ClaimRecord) {
        bytes += claim.bytes
        receipts += 1
    }
}
