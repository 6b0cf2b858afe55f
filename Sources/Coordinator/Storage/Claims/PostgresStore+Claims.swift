import Foundation
import Logging
import PostgresNIO

/// PostgreSQL's half of the claims: sessions' claims and totals, receipt batches and an epoch's claims, each round written in one transaction.
extension PostgresStore {
    /// Other coordinators may write the database at the same time: every round reads it.
    package func sessionTotalsSource() -> any SessionTotalsSource { SharedSessionTotals(store: self) }

    package func newestClaimedSession() async throws -> String? {
        try await first(String?.self, "SELECT MAX(session_id) FROM session_claims") ?? nil
    }

    package func sessionClaims(sessions: [String]) async throws -> [SessionClaim] {
        guard !sessions.isEmpty else { return [] }
        return try await guarded {
            var out: [SessionClaim] = []
            for try await (session, id, node, bytes) in try await self.client.query(
                "SELECT session_id, id, node_id, bytes FROM session_claims WHERE session_id = ANY(\(sessions))", logger: self.logger
            ).decode((String, String, String, Int64).self) {
                out.append(SessionClaim(session: session, id: id, node: node, bytes: bytes))
            }
            return out
        }
    }

    package func sessionTotals(ids: [String]) async throws -> [SessionTotal] {
        guard !ids.isEmpty else { return [] }
        return try await guarded {
            var out: [SessionTotal] = []
            for try await (id, bytes, edges) in try await self.client.query(
                """
                SELECT session_id, SUM(bytes)::bigint, string_agg(DISTINCT node_id, ',') FROM session_claims
                WHERE session_id = ANY(\(ids)) GROUP BY session_id
                """, logger: self.logger
            ).decode((String, Int64, String).self) {
                out.append(SessionTotal(id: id, bytes: bytes, edges: edges.split(separator: ",").map(String.init).sorted()))
            }
            return out
        }
    }

    package func storedClaims(keys: [SessionClaim.Key]) async throws -> [SessionClaim.Key] {
        guard !keys.isEmpty else { return [] }
        let sessions = keys.map(\.session), ids = keys.map(\.id)
        return try await guarded {
            var out: [SessionClaim.Key] = []
            for try await (session, id) in try await self.client.query(
                """
                SELECT c.session_id, c.id FROM session_claims c JOIN UNNEST(\(sessions)::text[], \(ids)::text[]) AS k (session_id, id)
                ON c.session_id = k.session_id AND c.id = k.id
                """, logger: self.logger
            ).decode((String, String).self) {
                out.append(SessionClaim.Key(session: session, id: id))
            }
            return out
        }
    }

    package func claims(keys: [SessionClaim.Key]) async throws -> [ClaimRecord] {
        guard !keys.isEmpty else { return [] }
        let sessions = keys.map(\.session), ids = keys.map(\.id)
        let places = try await guarded {
            var out: [ClaimLines.Place] = []
            for try await (id, batch, leaf) in try await self.client.query(
                """
                SELECT c.id, c.batch_id, c.leaf FROM session_claims c JOIN UNNEST(\(sessions)::text[], \(ids)::text[]) AS k (session_id, id)
                ON c.session_id = k.session_id AND c.id = k.id
                """, logger: self.logger
            ).decode((String, String, Int).self) {
                out.append(ClaimLines.Place(id: id, batch: batch, leaf: leaf))
            }
            return out
        }
        let batchIDs = Array(Set(places.map(\.batch).filter { !$0.isEmpty }))
        var texts: [String: String] = [:]
        if !batchIDs.isEmpty {
            for (id, text) in try await batchLines("SELECT id, claims FROM receipt_batches WHERE id = ANY(\(batchIDs)) AND claims IS NOT NULL") {
                texts[id] = text
            }
        }
        var (claims, ownRows) = try ClaimLines.claims(at: places, texts: texts)
        if !ownRows.isEmpty { claims += try await self.claims("SELECT \(unescaped: Self.claimColumns) FROM claims WHERE id = ANY(\(ownRows))") }
        return claims
    }

    package func claims(node: String) async throws -> [ClaimRecord] {
        let own = try await claims("SELECT \(unescaped: Self.claimColumns) FROM claims WHERE node_id = \(node)")
        let batched = try await batchLines(
            "SELECT b.id, b.claims FROM claim_nodes n JOIN receipt_batches b ON b.id = n.batch_id WHERE n.node_id = \(node) AND b.claims IS NOT NULL")
        return ClaimLines.sorted(own + (try batched.flatMap { try ClaimLines.decode($0.text, batch: $0.id) }).filter { $0.node == node })
    }

    /// Batches' ids and claim lines.
    func batchLines(_ query: PostgresQuery) async throws -> [(id: String, text: String)] {
        try await guarded {
            var out: [(id: String, text: String)] = []
            for try await (id, text) in try await self.client.query(query, logger: self.logger).decode((String, String).self) { out.append((id, text)) }
            return out
        }
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

    package func saveClaims(_ save: ClaimsToSave) async throws {
        let (claims, batches, lines, texts, ownRows) = (save.claims, save.batches, save.lines, save.texts, save.ownRows)
        try await transaction { connection in
            for batch in batches {
                try await connection.query(
                    """
                    INSERT INTO receipt_batches (id, accepted_at, root, signature, leaves, claims)
                    VALUES (\(batch.id), \(batch.acceptedAt), \(batch.root), \(batch.signature), \(batch.leaves), \(texts[batch.id]))
                    """, logger: self.logger)
                let nodes = Array(Set((lines[batch.id] ?? []).map(\.node)))
                if !nodes.isEmpty {
                    try await connection.query(
                        "INSERT INTO claim_nodes (node_id, batch_id) SELECT node, \(batch.id) FROM UNNEST(\(nodes)::text[]) AS node ON CONFLICT DO NOTHING",
                        logger: self.logger)
                }
            }
            // Every claim once, briefly, whichever way it is kept: one statement for the whole
            // round (a round trip per claim cost more than the rows).
            if !claims.isEmpty {
                let sessions = claims.map(\.session), ids = claims.map(\.id), nodes = claims.map(\.node), bytes = claims.map(\.bytes)
                let batchIDs = claims.map { $0.batch ?? "" }, leaves = claims.map { Int64($0.leaf ?? -1) }
                var inserted = 0
                for try await _ in try await connection.query(
                    """
                    INSERT INTO session_claims (session_id, id, node_id, bytes, batch_id, leaf)
                    SELECT * FROM UNNEST(\(sessions)::text[], \(ids)::text[], \(nodes)::text[], \(bytes)::bigint[], \(batchIDs)::text[], \(leaves)::bigint[])
                    ON CONFLICT DO NOTHING RETURNING id
                    """, logger: self.logger
                ).decode(String.self) {
                    inserted += 1
                }
                // Throwing rolls the whole transaction back.
                guard inserted == claims.count else { throw StoreFailure.duplicate("a claim of the round is already stored") }
            }
            for claim in ownRows {
                try await connection.query(
                    """
                    INSERT INTO claims (id, node_id, content_id, session_id, bytes, accepted_at, receipt, segments, ttfb_ms, first_at, last_at, batch_id, leaf)
                    VALUES (\(claim.id), \(claim.node), \(claim.content), \(claim.session), \(claim.bytes), \(claim.acceptedAt), \(claim.receipt),
                            \(claim.segments), \(claim.ttfbMilliseconds), \(claim.firstAt), \(claim.lastAt), \(claim.batch), \(claim.leaf))
                    """, logger: self.logger)
            }
        }
    }

    package func claims(acceptedFrom from: Int64, to: Int64) async throws -> [ClaimRecord] {
        let own = try await claims("SELECT \(unescaped: Self.claimColumns) FROM claims WHERE accepted_at >= \(from) AND accepted_at < \(to)")
        // A batch's time is its first claim's; its last is at most ClaimLines.spread later.
        let batched = try await batchLines(
            "SELECT id, claims FROM receipt_batches WHERE accepted_at >= \(from - ClaimLines.spread) AND accepted_at < \(to) AND claims IS NOT NULL")
        return ClaimLines.sorted(own + (try batched.flatMap { try ClaimLines.decode($0.text, batch: $0.id) }).filter { $0.acceptedAt >= from && $0.acceptedAt < to })
    }

}
