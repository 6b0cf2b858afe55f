import Foundation

/// Proof-of-retrievability challenges, written once for both databases.
extension ChallengeStore where Self: SQLDatabase {
    package func addChallenge(_ challenge: ChallengeRecord) async throws {
        try await execute(
            """
            INSERT INTO challenges (\(sql: ChallengeRecord.columns))
            VALUES (\(challenge.id), \(challenge.node), \(challenge.content), \(challenge.segment), \(challenge.chunk), \(challenge.issuedAt),
                    \(challenge.deadline), \(challenge.outcome?.rawValue), \(challenge.answeredAt))
            """)
    }

    package func challenge(id: String) async throws -> ChallengeRecord? {
        try await first("SELECT \(sql: ChallengeRecord.columns) FROM challenges WHERE id = \(id)", ChallengeRecord.init(row:))
    }

    package func openChallenges(node: String) async throws -> [ChallengeRecord] {
        try await rows(
            "SELECT \(sql: ChallengeRecord.columns) FROM challenges WHERE node_id = \(node) AND outcome IS NULL ORDER BY issued_at, id",
            ChallengeRecord.init(row:))
    }

    package func settleChallenge(id: String, outcome: ChallengeRecord.Outcome, at: Int64) async throws -> Bool {
        try await changedRow("UPDATE challenges SET outcome = \(outcome.rawValue), answered_at = \(at) WHERE id = \(id) AND outcome IS NULL RETURNING id")
    }

    package func expireChallenges(deadlineBefore time: Int64) async throws -> [ChallengeRecord] {
        try await rows(
            "UPDATE challenges SET outcome = 'offline' WHERE outcome IS NULL AND deadline < \(time) RETURNING \(sql: ChallengeRecord.columns)",
            ChallengeRecord.init(row:)
        ).sorted { ($0.issuedAt, $0.id) < ($1.issuedAt, $1.id) }
    }

    package func settledChallenges(node: String, since: Int64) async throws -> [ChallengeRecord] {
        try await rows(
            """
            SELECT \(sql: ChallengeRecord.columns) FROM challenges WHERE node_id = \(node) AND issued_at >= \(since) AND outcome IS NOT NULL
            ORDER BY issued_at, id
            """, ChallengeRecord.init(row:))
    }
}

extension ChallengeRecord {
    static let columns = "id, node_id, content_id, segment, chunk, issued_at, deadline, outcome, answered_at"

    init(row: any SQLRow) throws {
        self.init(
            id: try row.text(0), node: try row.text(1), content: try row.text(2), segment: try row.int(3), chunk: try row.int(4),
            issuedAt: try row.integer(5), deadline: try row.integer(6), outcome: try row.optionalText(7).flatMap(Outcome.init),
            answeredAt: try row.optionalInteger(8))
    }
}
