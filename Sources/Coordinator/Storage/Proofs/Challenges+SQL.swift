import Foundation

/// Proof-of-retrievability challenges, written once for both databases: their life in
/// ``Deadlines``, what was asked in `challenges`.
extension ChallengeStore where Self: SQLDatabase {
    package func addChallenge(_ challenge: ChallengeRecord) async throws {
        _ = try await transaction(
            Deadlines.issue(
                .challenge, id: challenge.id, node: challenge.node, issuedAt: challenge.issuedAt, deadline: challenge.deadline,
                outcome: challenge.outcome?.rawValue, answeredMillis: challenge.answeredAt.map { $0 * 1000 }),
            { _ in 0 }
        ) { _ in
            "INSERT INTO challenges (id, content_id, segment, chunk) VALUES (\(challenge.id), \(challenge.content), \(challenge.segment), \(challenge.chunk))"
        }
    }

    package func challenge(id: String) async throws -> ChallengeRecord? {
        try await first(Self.challenges(where: Deadlines.one(id)), ChallengeRecord.init(row:))
    }

    package func openChallenges(node: String) async throws -> [ChallengeRecord] {
        try await rows(Self.challenges(where: Deadlines.open(node: node)), ChallengeRecord.init(row:))
    }

    package func settleChallenge(id: String, outcome: ChallengeRecord.Outcome, at: Int64) async throws -> Bool {
        try await changedRow(Deadlines.settle(.challenge, id: id, outcome: outcome.rawValue, answeredMillis: at * 1000))
    }

    package func expireChallenges(deadlineBefore time: Int64) async throws -> [ChallengeRecord] {
        let expired = try await rows(Deadlines.expire(.challenge, before: time)) { try $0.text(0) }
        guard !expired.isEmpty else { return [] }
        return try await rows(Self.challenges(where: Deadlines.among(expired)), ChallengeRecord.init(row:))
    }

    package func settledChallenges(node: String, since: Int64) async throws -> [ChallengeRecord] {
        try await rows(Self.challenges(where: Deadlines.settled(node: node, since: since)), ChallengeRecord.init(row:))
    }

    private static func challenges(where condition: SQLStatement) -> SQLStatement {
        Deadlines.select(.challenge, own: "x.content_id, x.segment, x.chunk", from: "challenges", where: condition)
    }
}

extension ChallengeRecord {
    /// A row of ``Deadlines/select(_:own:from:where:)``.
    init(row: any SQLRow) throws {
        self.init(
            id: try row.text(0), node: try row.text(1), content: try row.text(6), segment: try row.int(7), chunk: try row.int(8),
            issuedAt: try row.integer(2), deadline: try row.integer(3), outcome: try row.optionalText(4).flatMap(Outcome.init),
            answeredAt: try row.optionalInteger(5).map { $0 / 1000 })
    }
}
