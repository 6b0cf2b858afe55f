import Foundation

/// Revenue and settled epochs, written once for both databases (an epoch's claims are read by
/// each database's claim half: `claims(acceptedFrom:to:)`).
extension EpochStore where Self: SQLDatabase {
    package func addRevenue(_ entry: RevenueEntry) async throws -> RevenueEntry {
        let sequence = try await first(
            """
            INSERT INTO revenue (epoch, source, amount, reason, at)
            SELECT \(entry.epoch), \(entry.source.rawValue), \(entry.amount), \(entry.reason), \(entry.at)
            WHERE NOT EXISTS (SELECT 1 FROM epochs WHERE epoch = \(entry.epoch)) RETURNING seq
            """
        ) { try $0.integer(0) }
        guard let sequence else { throw StoreFailure.duplicate("epoch \(entry.epoch) is settled; its revenue can no longer change") }
        var stored = entry
        stored.sequence = sequence
        return stored
    }

    package func revenue(epoch: Int64) async throws -> [RevenueEntry] {
        try await rows("SELECT seq, epoch, source, amount, reason, at FROM revenue WHERE epoch = \(epoch) ORDER BY seq") { row -> RevenueEntry? in
            // An entry of a source this version does not know is left out.
            guard let source = RevenueEntry.Source(rawValue: try row.text(2)) else { return nil }
            return RevenueEntry(
                sequence: try row.integer(0), epoch: try row.integer(1), source: source, amount: try row.integer(3), reason: try row.text(4),
                at: try row.integer(5))
        }.compactMap { $0 }
    }

    package func firstRevenueEpoch() async throws -> Int64? {
        try await first("SELECT MIN(epoch) FROM revenue") { try $0.optionalInteger(0) } ?? nil
    }

    package func saveEpoch(_ epoch: EpochRecord) async throws {
        let saved = try await changedRow(
            """
            INSERT INTO epochs (epoch, pool, carry, settled_at, report)
            VALUES (\(epoch.epoch), \(epoch.pool), \(epoch.carry), \(epoch.settledAt), \(epoch.report)) ON CONFLICT DO NOTHING RETURNING epoch
            """)
        guard saved else { throw StoreFailure.duplicate("epoch \(epoch.epoch) is settled already") }
    }

    package func epoch(_ number: Int64) async throws -> EpochRecord? {
        try await first("SELECT \(sql: EpochRecord.columns) FROM epochs WHERE epoch = \(number)", EpochRecord.init(row:))
    }

    package func epochs(limit: Int) async throws -> [EpochRecord] {
        try await rows("SELECT \(sql: EpochRecord.columns) FROM epochs ORDER BY epoch DESC LIMIT \(limit)", EpochRecord.init(row:))
    }
}

extension EpochRecord {
    static let columns = "epoch, pool, carry, settled_at, report"

    init(row: any SQLRow) throws {
        self.init(epoch: try row.integer(0), pool: try row.integer(1), carry: try row.integer(2), settledAt: try row.integer(3), report: try row.text(4))
    }
}
