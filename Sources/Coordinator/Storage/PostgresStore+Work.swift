import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Capacity probes and transcode reports: the measured side of a miner's resources and work.
extension PostgresStore {
    static let probeColumns =
        "SELECT id, node_id, seed, parts, bits, claimed_cores, issued_at, deadline, delivered_ms, outcome, answered_ms, measured_cores FROM probes"
    static let transcodeColumns = "SELECT node_id, content_id, rendition, segment, bytes, sha256, reported_at, status, decided_at FROM transcodes"

    package func addProbe(_ probe: ProbeRecord) async throws {
        let outcome = probe.outcome?.rawValue
        try await run(
            """
            INSERT INTO probes (id, node_id, seed, parts, bits, claimed_cores, issued_at, deadline, delivered_ms, outcome, answered_ms, measured_cores)
            VALUES (\(probe.id), \(probe.node), \(probe.seed), \(probe.parts), \(probe.bits), \(probe.claimedCores), \(probe.issuedAt), \(probe.deadline),
                    \(probe.deliveredMillis), \(outcome), \(probe.answeredMillis), \(probe.measuredCores))
            """)
    }

    package func probe(id: String) async throws -> ProbeRecord? {
        try await probes("\(unescaped: Self.probeColumns) WHERE id = \(id)").first
    }

    package func openProbes(node: String) async throws -> [ProbeRecord] {
        try await probes("\(unescaped: Self.probeColumns) WHERE node_id = \(node) AND outcome IS NULL ORDER BY issued_at, id")
    }

    package func deliverProbe(id: String, atMillis: Int64) async throws {
        try await run("UPDATE probes SET delivered_ms = \(atMillis) WHERE id = \(id) AND delivered_ms IS NULL")
    }

    package func settleProbe(id: String, outcome: ProbeRecord.Outcome, answeredMillis: Int64, measuredCores: Double) async throws -> Bool {
        try await first(
            String.self,
            """
            UPDATE probes SET outcome = \(outcome.rawValue), answered_ms = \(answeredMillis), measured_cores = \(measuredCores)
            WHERE id = \(id) AND outcome IS NULL RETURNING id
            """) != nil
    }

    package func expireProbes(deadlineBefore time: Int64) async throws -> [ProbeRecord] {
        try await probes(
            """
            UPDATE probes SET outcome = 'offline', measured_cores = 0 WHERE outcome IS NULL AND deadline < \(time)
            RETURNING id, node_id, seed, parts, bits, claimed_cores, issued_at, deadline, delivered_ms, outcome, answered_ms, measured_cores
            """
        ).sorted { ($0.issuedAt, $0.id) < ($1.issuedAt, $1.id) }
    }

    package func settledProbes(node: String, since: Int64) async throws -> [ProbeRecord] {
        try await probes("\(unescaped: Self.probeColumns) WHERE node_id = \(node) AND issued_at >= \(since) AND outcome IS NOT NULL ORDER BY issued_at, id")
    }

    package func addTranscodes(_ reports: [TranscodeReport]) async throws -> Int {
        let added = Mutex(0)
        try await transaction { connection in
            for report in reports {
                for try await _ in try await connection.query(
                    """
                    INSERT INTO transcodes (node_id, content_id, rendition, segment, bytes, sha256, reported_at, status, decided_at)
                    VALUES (\(report.node), \(report.content), \(report.rendition), \(report.segment), \(report.bytes), \(report.sha256),
                            \(report.reportedAt), \(report.status.rawValue), \(report.decidedAt))
                    ON CONFLICT DO NOTHING RETURNING node_id
                    """, logger: self.logger
                ).decode(String.self) {
                    added.withLock { $0 += 1 }
                }
            }
        }
        return added.withLock { $0 }
    }

    package func transcodes(status: TranscodeReport.Status, limit: Int) async throws -> [TranscodeReport] {
        try await transcodes("\(unescaped: Self.transcodeColumns) WHERE status = \(status.rawValue) ORDER BY reported_at LIMIT \(limit)")
    }

    package func decideTranscode(_ report: TranscodeReport, status: TranscodeReport.Status, at: Int64) async throws -> Bool {
        try await first(
            String.self,
            """
            UPDATE transcodes SET status = \(status.rawValue), decided_at = \(at)
            WHERE node_id = \(report.node) AND content_id = \(report.content) AND rendition = \(report.rendition) AND segment = \(report.segment)
              AND status = 'sampled'
            RETURNING node_id
            """) != nil
    }

    package func earningTranscodes(decidedFrom from: Int64, to: Int64) async throws -> [TranscodeReport] {
        try await transcodes(
            """
            \(unescaped: Self.transcodeColumns) WHERE decided_at >= \(from) AND decided_at < \(to) AND status IN ('passed', 'unsampled')
            ORDER BY node_id, content_id, rendition, segment
            """)
    }

    package func forfeitTranscodes(node: String, since: Int64) async throws -> Int {
        try await first(
            Int64.self,
            """
            WITH voided AS (
                UPDATE transcodes SET status = 'forfeit' WHERE node_id = \(node) AND (decided_at IS NULL OR decided_at >= \(since)) AND status != 'forfeit'
                RETURNING 1)
            SELECT COUNT(*) FROM voided
            """
        ).map(Int.init) ?? 0
    }

    func probes(_ query: PostgresQuery) async throws -> [ProbeRecord] {
        try await guarded {
            var out: [ProbeRecord] = []
            for try await (id, node, seed, parts, bits, claimed, issued, deadline, delivered, outcome, answered, measured) in try await self.client.query(
                query, logger: self.logger
            ).decode((String, String, String, Int, Int, Int, Int64, Int64, Int64?, String?, Int64?, Double?).self) {
                out.append(
                    ProbeRecord(
                        id: id, node: node, seed: seed, parts: parts, bits: bits, claimedCores: claimed, issuedAt: issued, deadline: deadline,
                        deliveredMillis: delivered, outcome: outcome.flatMap(ProbeRecord.Outcome.init), answeredMillis: answered, measuredCores: measured))
            }
            return out
        }
    }

    func transcodes(_ query: PostgresQuery) async throws -> [TranscodeReport] {
        try await guarded {
            var out: [TranscodeReport] = []
            for try await (node, content, rendition, segment, bytes, sha256, reported, status, decided) in try await self.client.query(
                query, logger: self.logger
            ).decode((String, String, String, Int, Int64, String, Int64, String, Int64?).self) {
                out.append(
                    TranscodeReport(
                        node: node, content: content, rendition: rendition, segment: segment, bytes: bytes, sha256: sha256, reportedAt: reported,
                        status: TranscodeReport.Status(rawValue: status) ?? .failed, decidedAt: decided))
            }
            return out
        }
    }
}
