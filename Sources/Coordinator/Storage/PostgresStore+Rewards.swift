import Foundation
import Logging
import PostgresNIO

/// Claims, sessions, challenges, revenue and epochs: the stores of receipts, proofs and rewards.
extension PostgresStore {
    package func claims(ids: [String]) async throws -> [ClaimRecord] {
        guard !ids.isEmpty else { return [] }
        return try await claims("SELECT \(unescaped: Self.claimColumns) FROM claims WHERE id = ANY(\(ids))")
    }

    package func claimContext(ids: [String], sessions: [String]) async throws -> (claims: [ClaimRecord], sessions: [SessionTotal]) {
        (try await claims(ids: ids), try await sessionTotals(ids: sessions))
    }

    package func claims(node: String) async throws -> [ClaimRecord] {
        try await claims("SELECT \(unescaped: Self.claimColumns) FROM claims WHERE node_id = \(node) ORDER BY accepted_at, id")
    }

    static let claimColumns = "id, node_id, content_id, session_id, bytes, accepted_at, receipt, segments, ttfb_ms, first_at, last_at, batch_id, leaf"

    func claims(_ query: PostgresQuery) async throws -> [ClaimRecord] {
        try await guarded {
            var out: [ClaimRecord] = []
            for try await (id, node, content, session, bytes, at, receipt, segments, ttfb, firstAt, lastAt, batch, leaf) in try await self.client.query(
                query, logger: self.logger
            ).decode((String, String, String, String, Int64, Int64, String, Int?, Int?, Int64?, Int64?, String?, Int?).self) {
                out.append(
                    ClaimRecord(
                        id: id, node: node, content: content, session: session, bytes: bytes, acceptedAt: at, receipt: receipt, segments: segments,
                        ttfbMilliseconds: ttfb, firstAt: firstAt, lastAt: lastAt, batch: batch, leaf: leaf))
            }
            return out
        }
    }

    package func receiptBatches(ids: [String]) async throws -> [ReceiptBatch] {
        guard !ids.isEmpty else { return [] }
        return try await guarded {
            var out: [ReceiptBatch] = []
            for try await (id, at, root, signature, leaves) in try await self.client.query(
                "SELECT id, accepted_at, root, signature, leaves FROM receipt_batches WHERE id = ANY(\(ids))", logger: self.logger
            ).decode((String, Int64, String, String, String).self) {
                out.append(ReceiptBatch(id: id, acceptedAt: at, root: root, signature: signature, leaves: leaves))
            }
            return out
        }
    }

    package func sessionTotals(ids: [String]) async throws -> [SessionTotal] {
        guard !ids.isEmpty else { return [] }
        return try await guarded {
            var out: [SessionTotal] = []
            for try await (id, content, issued, bytes, edges) in try await self.client.query(
                "SELECT id, content_id, issued_at, bytes, edges FROM sessions WHERE id = ANY(\(ids))", logger: self.logger
            ).decode((String, String, Int64, Int64, String).self) {
                out.append(SessionTotal(id: id, content: content, issuedAt: issued, bytes: bytes, edges: edges.split(separator: ",").map(String.init)))
            }
            return out
        }
    }

    package func saveClaims(_ claims: [ClaimRecord], batch: ReceiptBatch?, sessions: [SessionTotal]) async throws {
        try await transaction { connection in
            if let batch {
                try await connection.query(
                    """
                    INSERT INTO receipt_batches (id, accepted_at, root, signature, leaves)
                    VALUES (\(batch.id), \(batch.acceptedAt), \(batch.root), \(batch.signature), \(batch.leaves))
                    """, logger: self.logger)
            }
            // One statement for the whole round (a round trip per claim cost more than the rows):
            // arrays of each column, unnested, when every claim has its fields (all claims saved
            // since receipts are kept by batch do).
            let complete = claims.filter { Self.claimColumns([$0]) != nil }
            if !complete.isEmpty, let columns = Self.claimColumns(complete) {
                var inserted = 0
                for try await _ in try await connection.query(
                    """
                    INSERT INTO claims (id, node_id, content_id, session_id, bytes, accepted_at, receipt, segments, ttfb_ms, first_at, last_at, batch_id, leaf)
                    SELECT * FROM UNNEST(\(columns.ids)::text[], \(columns.nodes)::text[], \(columns.contents)::text[], \(columns.sessions)::text[],
                                         \(columns.bytes)::bigint[], \(columns.acceptedAt)::bigint[], \(columns.receipts)::text[], \(columns.segments)::bigint[],
                                         \(columns.ttfb)::bigint[], \(columns.firstAt)::bigint[], \(columns.lastAt)::bigint[], \(columns.batches)::text[],
                                         \(columns.leaves)::bigint[])
                    ON CONFLICT DO NOTHING RETURNING id
                    """, logger: self.logger
                ).decode(String.self) {
                    inserted += 1
                }
                // Throwing rolls the whole transaction back.
                guard inserted == complete.count else { throw StoreFailure.duplicate("a claim of the round is already stored") }
            }
            for claim in claims where Self.claimColumns([claim]) == nil {
                var inserted = false
                for try await _ in try await connection.query(
                    """
                    INSERT INTO claims (id, node_id, content_id, session_id, bytes, accepted_at, receipt, segments, ttfb_ms, first_at, last_at, batch_id, leaf)
                    VALUES (\(claim.id), \(claim.node), \(claim.content), \(claim.session), \(claim.bytes), \(claim.acceptedAt), \(claim.receipt),
                            \(claim.segments), \(claim.ttfbMilliseconds), \(claim.firstAt), \(claim.lastAt), \(claim.batch), \(claim.leaf))
                    ON CONFLICT DO NOTHING RETURNING id
                    """, logger: self.logger
                ).decode(String.self) {
                    inserted = true
                }
                // Throwing rolls the whole transaction back.
                guard inserted else { throw StoreFailure.duplicate("claim \(claim.id) is already stored") }
            }
            if !sessions.isEmpty {
                let ids = sessions.map(\.id), contents = sessions.map(\.content), issued = sessions.map(\.issuedAt)
                let bytes = sessions.map(\.bytes), edges = sessions.map { $0.edges.joined(separator: ",") }
                try await connection.query(
                    """
                    INSERT INTO sessions (id, content_id, issued_at, bytes, edges)
                    SELECT * FROM UNNEST(\(ids)::text[], \(contents)::text[], \(issued)::bigint[], \(bytes)::bigint[], \(edges)::text[])
                    ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes, edges = excluded.edges
                    """, logger: self.logger)
            }
        }
    }

    /// The claims as one array per column, or nil when one lacks the fields kept since receipts
    /// are kept by batch (such a claim is written on its own).
    static func claimColumns(_ claims: [ClaimRecord]) -> ClaimColumns? {
        var columns = ClaimColumns()
        for claim in claims {
            guard let segments = claim.segments, let ttfb = claim.ttfbMilliseconds, let firstAt = claim.firstAt, let lastAt = claim.lastAt,
                let batch = claim.batch, let leaf = claim.leaf
            else { return nil }
            columns.ids.append(claim.id)
            columns.nodes.append(claim.node)
            columns.contents.append(claim.content)
            columns.sessions.append(claim.session)
            columns.bytes.append(claim.bytes)
            columns.acceptedAt.append(claim.acceptedAt)
            columns.receipts.append(claim.receipt)
            columns.segments.append(Int64(segments))
            columns.ttfb.append(Int64(ttfb))
            columns.firstAt.append(firstAt)
            columns.lastAt.append(lastAt)
            columns.batches.append(batch)
            columns.leaves.append(Int64(leaf))
        }
        return columns
    }

    struct ClaimColumns {
        var ids: [String] = [], nodes: [String] = [], contents: [String] = [], sessions: [String] = []
        var bytes: [Int64] = [], acceptedAt: [Int64] = []
        var receipts: [String] = []
        var segments: [Int64] = [], ttfb: [Int64] = [], firstAt: [Int64] = [], lastAt: [Int64] = []
        var batches: [String] = []
        var leaves: [Int64] = []
    }

    package func addChallenge(_ challenge: ChallengeRecord) async throws {
        let outcome = challenge.outcome?.rawValue
        try await run(
            """
            INSERT INTO challenges (id, node_id, content_id, segment, chunk, issued_at, deadline, outcome, answered_at)
            VALUES (\(challenge.id), \(challenge.node), \(challenge.content), \(challenge.segment), \(challenge.chunk), \(challenge.issuedAt),
                    \(challenge.deadline), \(outcome), \(challenge.answeredAt))
            """)
    }

    static let challengeColumns = "SELECT id, node_id, content_id, segment, chunk, issued_at, deadline, outcome, answered_at FROM challenges"

    package func challenge(id: String) async throws -> ChallengeRecord? {
        try await challenges(PostgresQuery(unsafeSQL: Self.challengeColumns + " WHERE id = $1", binds: try Self.binds(id))).first
    }

    package func openChallenges(node: String) async throws -> [ChallengeRecord] {
        try await challenges(PostgresQuery(unsafeSQL: Self.challengeColumns + " WHERE node_id = $1 AND outcome IS NULL ORDER BY issued_at, id", binds: try Self.binds(node)))
    }

    package func settleChallenge(id: String, outcome: ChallengeRecord.Outcome, at: Int64) async throws -> Bool {
        try await first(
            String.self, "UPDATE challenges SET outcome = \(outcome.rawValue), answered_at = \(at) WHERE id = \(id) AND outcome IS NULL RETURNING id") != nil
    }

    package func expireChallenges(deadlineBefore time: Int64) async throws -> [ChallengeRecord] {
        try await challenges(
            """
            UPDATE challenges SET outcome = 'offline' WHERE outcome IS NULL AND deadline < \(time)
            RETURNING id, node_id, content_id, segment, chunk, issued_at, deadline, outcome, answered_at
            """
        ).sorted { ($0.issuedAt, $0.id) < ($1.issuedAt, $1.id) }
    }

    package func settledChallenges(node: String, since: Int64) async throws -> [ChallengeRecord] {
        try await challenges(
            "\(unescaped: Self.challengeColumns) WHERE node_id = \(node) AND issued_at >= \(since) AND outcome IS NOT NULL ORDER BY issued_at, id")
    }

    package func addRevenue(_ entry: RevenueEntry) async throws -> RevenueEntry {
        let sequence = try await first(
            Int64.self,
            """
            INSERT INTO revenue (epoch, source, amount, reason, at)
            SELECT \(entry.epoch), \(entry.source.rawValue), \(entry.amount), \(entry.reason), \(entry.at)
            WHERE NOT EXISTS (SELECT 1 FROM epochs WHERE epoch = \(entry.epoch)) RETURNING seq
            """)
        guard let sequence else { throw StoreFailure.duplicate("epoch \(entry.epoch) is settled; its revenue can no longer change") }
        var stored = entry
        stored.sequence = sequence
        return stored
    }

    package func revenue(epoch: Int64) async throws -> [RevenueEntry] {
        try await guarded {
            var out: [RevenueEntry] = []
            for try await (seq, epoch, source, amount, reason, at) in try await self.client.query(
                "SELECT seq, epoch, source, amount, reason, at FROM revenue WHERE epoch = \(epoch) ORDER BY seq", logger: self.logger
            ).decode((Int64, Int64, String, Int64, String, Int64).self) {
                if let source = RevenueEntry.Source(rawValue: source) {
                    out.append(RevenueEntry(sequence: seq, epoch: epoch, source: source, amount: amount, reason: reason, at: at))
                }
            }
            return out
        }
    }

    package func firstRevenueEpoch() async throws -> Int64? {
        try await first(Int64?.self, "SELECT MIN(epoch) FROM revenue") ?? nil
    }

    package func claims(acceptedFrom from: Int64, to: Int64) async throws -> [ClaimRecord] {
        try await claims(
            "SELECT \(unescaped: Self.claimColumns) FROM claims WHERE accepted_at >= \(from) AND accepted_at < \(to) ORDER BY accepted_at, id")
    }

    package func saveEpoch(_ epoch: EpochRecord) async throws {
        let inserted = try await first(
            Int64.self,
            """
            INSERT INTO epochs (epoch, pool, carry, settled_at, report) VALUES (\(epoch.epoch), \(epoch.pool), \(epoch.carry), \(epoch.settledAt), \(epoch.report))
            ON CONFLICT DO NOTHING RETURNING epoch
            """)
        guard inserted != nil else { throw StoreFailure.duplicate("epoch \(epoch.epoch) is settled already") }
    }

    package func epoch(_ number: Int64) async throws -> EpochRecord? {
        try await epochs("SELECT epoch, pool, carry, settled_at, report FROM epochs WHERE epoch = \(number)").first
    }

    package func epochs(limit: Int) async throws -> [EpochRecord] {
        try await epochs("SELECT epoch, pool, carry, settled_at, report FROM epochs ORDER BY epoch DESC LIMIT \(limit)")
    }

    func epochs(_ query: PostgresQuery) async throws -> [EpochRecord] {
        try await guarded {
            var out: [EpochRecord] = []
            for try await (epoch, pool, carry, settled, report) in try await self.client.query(query, logger: self.logger)
                .decode((Int64, Int64, Int64, Int64, String).self)
            {
                out.append(EpochRecord(epoch: epoch, pool: pool, carry: carry, settledAt: settled, report: report))
            }
            return out
        }
    }

    func challenges(_ query: PostgresQuery) async throws -> [ChallengeRecord] {
        try await guarded {
            var out: [ChallengeRecord] = []
            for try await (id, node, content, segment, chunk, issued, deadline, outcome, answered) in try await self.client.query(query, logger: self.logger)
                .decode((String, String, String, Int, Int, Int64, Int64, String?, Int64?).self)
            {
                out.append(
                    ChallengeRecord(
                        id: id, node: node, content: content, segment: segment, chunk: chunk, issuedAt: issued, deadline: deadline,
                        outcome: outcome.flatMap(ChallengeRecord.Outcome.init), answeredAt: answered))
            }
            return out
        }
    }
}
