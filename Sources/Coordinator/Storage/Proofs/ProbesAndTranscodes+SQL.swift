import Foundation

/// Capacity probes, written once for both databases: their life in ``Deadlines``, the work
/// and what it measured in `probes`.
extension ProbeStore where Self: SQLDatabase {
    package func addProbe(_ probe: ProbeRecord) async throws {
        _ = try await transaction(
            Deadlines.issue(
                .probe, id: probe.id, node: probe.node, issuedAt: probe.issuedAt, deadline: probe.deadline, outcome: probe.outcome?.rawValue,
                answeredMillis: probe.answeredMillis),
            { _ in 0 }
        ) { _ in
            """
            INSERT INTO probes (id, seed, parts, bits, claimed_cores, delivered_ms, measured_cores)
            VALUES (\(probe.id), \(probe.seed), \(probe.parts), \(probe.bits), \(probe.claimedCores), \(probe.deliveredMillis), \(probe.measuredCores))
            """
        }
    }

    package func probe(id: String) async throws -> ProbeRecord? {
        try await first(Self.probes(where: Deadlines.one(id)), ProbeRecord.init(row:))
    }

    package func openProbes(node: String) async throws -> [ProbeRecord] {
        try await rows(Self.probes(where: Deadlines.open(node: node)), ProbeRecord.init(row:))
    }

    package func deliverProbe(id: String, atMillis: Int64) async throws {
        try await execute("UPDATE probes SET delivered_ms = \(atMillis) WHERE id = \(id) AND delivered_ms IS NULL")
    }

    package func settleProbe(id: String, outcome: ProbeRecord.Outcome, answeredMillis: Int64, measuredCores: Double) async throws -> Bool {
        try await !transaction(Deadlines.settle(.probe, id: id, outcome: outcome.rawValue, answeredMillis: answeredMillis), { _ in 0 }) { settled in
            settled.isEmpty ? nil : "UPDATE probes SET measured_cores = \(measuredCores) WHERE id = \(id)"
        }.isEmpty
    }

    package func expireProbes(deadlineBefore time: Int64) async throws -> [ProbeRecord] {
        let expired = try await transaction(Deadlines.expire(.probe, before: time), { try $0.text(0) }) { ids in
            // An unanswered probe showed no cores.
            ids.isEmpty ? nil : "UPDATE probes SET measured_cores = 0 WHERE id IN (" + .list(ids) + ")"
        }
        guard !expired.isEmpty else { return [] }
        return try await rows(Self.probes(where: Deadlines.among(expired)), ProbeRecord.init(row:))
    }

    package func settledProbes(node: String, since: Int64) async throws -> [ProbeRecord] {
        try await rows(Self.probes(where: Deadlines.settled(node: node, since: since)), ProbeRecord.init(row:))
    }

    private static func probes(where condition: SQLStatement) -> SQLStatement {
        Deadlines.select(.probe, own: "x.seed, x.parts, x.bits, x.claimed_cores, x.delivered_ms, x.measured_cores", from: "probes", where: condition)
    }
}

extension ProbeRecord {
    /// A row of ``Deadlines/select(_:own:from:where:)``.
    init(row: any SQLRow) throws {
        self.init(
            id: try row.text(0), node: try row.text(1), seed: try row.text(6), parts: try row.int(7), bits: try row.int(8),
            claimedCores: try row.int(9), issuedAt: try row.integer(2), deadline: try row.integer(3), deliveredMillis: try row.optionalInteger(10),
            outcome: try row.optionalText(4).flatMap(Outcome.init), answeredMillis: try row.optionalInteger(5), measuredCores: try row.optionalReal(11))
    }
}

/// Transcode reports and their audits, written once for both databases.
extension TranscodeStore where Self: SQLDatabase {
    package func addTranscodes(_ reports: [TranscodeReport]) async throws -> Int {
        guard !reports.isEmpty else { return 0 }
        // One statement for the batch (at most 1,000 reports, 9,000 parameters): all or none.
        var statement: SQLStatement = "INSERT INTO transcodes (\(sql: TranscodeReport.columns)) VALUES "
        for (index, report) in reports.enumerated() {
            statement =
                statement
                + """
                \(sql: index == 0 ? "" : ", ")(\(report.node), \(report.content), \(report.rendition), \(report.segment), \(report.bytes), \
                \(report.sha256), \(report.reportedAt), \(report.status.rawValue), \(report.decidedAt))
                """
        }
        return try await rows(statement + " ON CONFLICT DO NOTHING RETURNING node_id") { _ in 0 }.count
    }

    package func transcodes(status: TranscodeReport.Status, limit: Int) async throws -> [TranscodeReport] {
        try await rows(
            "SELECT \(sql: TranscodeReport.columns) FROM transcodes WHERE status = \(status.rawValue) ORDER BY reported_at LIMIT \(limit)",
            TranscodeReport.init(row:))
    }

    package func transcodes(node: String, limit: Int) async throws -> [TranscodeReport] {
        try await rows(
            """
            SELECT \(sql: TranscodeReport.columns) FROM transcodes WHERE node_id = \(node)
            ORDER BY reported_at DESC, content_id, rendition, segment LIMIT \(limit)
            """, TranscodeReport.init(row:))
    }

    package func transcodes(content: String, limit: Int) async throws -> [TranscodeReport] {
        try await rows(
            """
            SELECT \(sql: TranscodeReport.columns) FROM transcodes WHERE content_id = \(content)
            ORDER BY reported_at DESC, node_id, rendition, segment LIMIT \(limit)
            """, TranscodeReport.init(row:))
    }

    package func decideTranscode(_ report: TranscodeReport, status: TranscodeReport.Status, at: Int64) async throws -> Bool {
        try await changedRow(
            """
            UPDATE transcodes SET status = \(status.rawValue), decided_at = \(at)
            WHERE node_id = \(report.node) AND content_id = \(report.content) AND rendition = \(report.rendition) AND segment = \(report.segment)
              AND status = 'sampled'
            RETURNING node_id
            """)
    }

    package func earningTranscodes(decidedFrom from: Int64, to: Int64) async throws -> [TranscodeReport] {
        try await rows(
            """
            SELECT \(sql: TranscodeReport.columns) FROM transcodes WHERE decided_at >= \(from) AND decided_at < \(to) AND status IN ('passed', 'unsampled')
            ORDER BY node_id, content_id, rendition, segment
            """, TranscodeReport.init(row:))
    }

    package func forfeitTranscodes(node: String, since: Int64) async throws -> Int {
        try await rows(
            """
            UPDATE transcodes SET status = 'forfeit' WHERE node_id = \(node) AND (decided_at IS NULL OR decided_at >= \(since)) AND status != 'forfeit'
            RETURNING node_id
            """
        ) { _ in 0 }.count
    }
}

extension TranscodeReport {
    static let columns = "node_id, content_id, rendition, segment, bytes, sha256, reported_at, status, decided_at"

    init(row: any SQLRow) throws {
        self.init(
            node: try row.text(0), content: try row.text(1), rendition: try row.text(2), segment: try row.int(3), bytes: try row.integer(4),
            sha256: try row.text(5), reportedAt: try row.integer(6), status: Status(rawValue: try row.text(7)) ?? .failed,
            decidedAt: try row.optionalInteger(8))
    }
}
