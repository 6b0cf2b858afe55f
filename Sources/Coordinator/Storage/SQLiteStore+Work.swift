import Foundation
import GRDB

/// Capacity probes and transcode reports: the measured side of a miner's resources and work.
extension SQLiteStore {
    package func addProbe(_ probe: ProbeRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO probes (id, node_id, seed, parts, bits, claimed_cores, issued_at, deadline, delivered_ms, outcome, answered_ms, measured_cores)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    probe.id, probe.node, probe.seed, probe.parts, probe.bits, probe.claimedCores, probe.issuedAt, probe.deadline,
                    probe.deliveredMillis, probe.outcome?.rawValue, probe.answeredMillis, probe.measuredCores,
                ])
        }
    }

    package func probe(id: String) async throws -> ProbeRecord? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM probes WHERE id = ?", arguments: [id]).map(Self.probe) }
    }

    package func openProbes(node: String) async throws -> [ProbeRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM probes WHERE node_id = ? AND outcome IS NULL ORDER BY issued_at, id", arguments: [node]).map(Self.probe)
        }
    }

    package func deliverProbe(id: String, atMillis: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE probes SET delivered_ms = ? WHERE id = ? AND delivered_ms IS NULL", arguments: [atMillis, id])
        }
    }

    package func settleProbe(id: String, outcome: ProbeRecord.Outcome, answeredMillis: Int64, measuredCores: Double) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE probes SET outcome = ?, answered_ms = ?, measured_cores = ? WHERE id = ? AND outcome IS NULL",
                arguments: [outcome.rawValue, answeredMillis, measuredCores, id])
            return db.changesCount == 1
        }
    }

    package func expireProbes(deadlineBefore time: Int64) async throws -> [ProbeRecord] {
        try await write { db in
            let expired = try Row.fetchAll(db, sql: "SELECT * FROM probes WHERE outcome IS NULL AND deadline < ? ORDER BY issued_at, id", arguments: [time])
                .map(Self.probe)
            try db.execute(sql: "UPDATE probes SET outcome = 'offline', measured_cores = 0 WHERE outcome IS NULL AND deadline < ?", arguments: [time])
            return expired.map {
                var settled = $0
                settled.outcome = .offline
                settled.measuredCores = 0
                return settled
            }
        }
    }

    package func settledProbes(node: String, since: Int64) async throws -> [ProbeRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM probes WHERE node_id = ? AND issued_at >= ? AND outcome IS NOT NULL ORDER BY issued_at, id", arguments: [node, since]
            ).map(Self.probe)
        }
    }

    package func addTranscodes(_ reports: [TranscodeReport]) async throws -> Int {
        try await write { db in
            var added = 0
            for report in reports {
                try db.execute(
                    sql: """
                        INSERT INTO transcodes (node_id, content_id, rendition, segment, bytes, sha256, reported_at, status, decided_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                        """,
                    arguments: [
                        report.node, report.content, report.rendition, report.segment, report.bytes, report.sha256, report.reportedAt,
                        report.status.rawValue, report.decidedAt,
                    ])
                added += db.changesCount
            }
            return added
        }
    }

    package func transcodes(status: TranscodeReport.Status, limit: Int) async throws -> [TranscodeReport] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM transcodes WHERE status = ? ORDER BY reported_at LIMIT ?", arguments: [status.rawValue, limit])
                .map(Self.transcode)
        }
    }

    package func decideTranscode(_ report: TranscodeReport, status: TranscodeReport.Status, at: Int64) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE transcodes SET status = ?, decided_at = ?
                    WHERE node_id = ? AND content_id = ? AND rendition = ? AND segment = ? AND status = 'sampled'
                    """,
                arguments: [status.rawValue, at, report.node, report.content, report.rendition, report.segment])
            return db.changesCount == 1
        }
    }

    package func earningTranscodes(decidedFrom from: Int64, to: Int64) async throws -> [TranscodeReport] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM transcodes WHERE decided_at >= ? AND decided_at < ? AND status IN ('passed', 'unsampled')
                    ORDER BY node_id, content_id, rendition, segment
                    """,
                arguments: [from, to]
            ).map(Self.transcode)
        }
    }

    package func forfeitTranscodes(node: String, since: Int64) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "UPDATE transcodes SET status = 'forfeit' WHERE node_id = ? AND (decided_at IS NULL OR decided_at >= ?) AND status != 'forfeit'",
                arguments: [node, since])
            return db.changesCount
        }
    }

    static func probe(_ row: Row) -> ProbeRecord {
        ProbeRecord(
            id: row["id"], node: row["node_id"], seed: row["seed"], parts: row["parts"], bits: row["bits"], claimedCores: row["claimed_cores"],
            issuedAt: row["issued_at"], deadline: row["deadline"], deliveredMillis: row["delivered_ms"],
            outcome: (row["outcome"] as String?).flatMap(ProbeRecord.Outcome.init), answeredMillis: row["answered_ms"], measuredCores: row["measured_cores"])
    }

    static func transcode(_ row: Row) -> TranscodeReport {
        TranscodeReport(
            node: row["node_id"], content: row["content_id"], rendition: row["rendition"], segment: row["segment"], bytes: row["bytes"],
            sha256: row["sha256"], reportedAt: row["reported_at"], status: TranscodeReport.Status(rawValue: row["status"]) ?? .failed,
            decidedAt: row["decided_at"])
    }
}
