import Foundation
import GRDB

/// SQLite's half of the claims: sessions' claims, receipt batches and an epoch's claims
/// (the rows by session and id are written in bulk: SQLiteStore+ClaimIndex).
extension SQLiteStore {
    /// Only this coordinator writes the file: what it wrote is kept in memory.
    package func sessionTotalsSource() -> any SessionTotalsSource { CachedSessionTotals(store: self) }

    package func newestClaimedSession() async throws -> String? {
        try await claimIndex.flush()
        return try await read { db in try String.fetchOne(db, sql: "SELECT MAX(session_id) FROM session_claims") }
    }

    package func sessionClaims(sessions: [String]) async throws -> [SessionClaim] {
        guard !sessions.isEmpty else { return [] }
        try await claimIndex.flush()
        return try await read { db in
            // One cached range look-up a session: the claim path reads thousands a round.
            var out: [SessionClaim] = []
            let rows = try SQLiteRows(db, sql: "SELECT id, node_id, bytes FROM session_claims WHERE session_id = ?")
            for session in sessions {
                try rows.query(.text(session)) { out.append(SessionClaim(session: session, id: $0.text(0), node: $0.text(1), bytes: $0.integer(2))) }
            }
            return out
        }
    }

    package func sessionTotals(ids: [String]) async throws -> [SessionTotal] {
        guard !ids.isEmpty else { return [] }
        try await claimIndex.flush()
        return try await read { db in
            var out: [SessionTotal] = []
            let rows = try SQLiteRows(
                db, sql: "SELECT SUM(bytes), group_concat(DISTINCT node_id) FROM session_claims WHERE session_id = ? HAVING COUNT(*) > 0")
            for id in ids {
                try rows.query(.text(id)) {
                    out.append(SessionTotal(id: id, bytes: $0.integer(0), edges: $0.text(1).split(separator: ",").map(String.init).sorted()))
                }
            }
            return out
        }
    }

    package func storedClaims(keys: [SessionClaim.Key]) async throws -> [SessionClaim.Key] {
        guard !keys.isEmpty else { return [] }
        try await claimIndex.flush()
        return try await read { db in
            var out: [SessionClaim.Key] = []
            let row = try SQLiteRows(db, sql: "SELECT 1 FROM session_claims WHERE session_id = ? AND id = ?")
            for key in keys { try row.query(.text(key.session), .text(key.id)) { _ in out.append(key) } }
            return out
        }
    }

    package func claims(keys: [SessionClaim.Key]) async throws -> [ClaimRecord] {
        guard !keys.isEmpty else { return [] }
        try await claimIndex.flush()
        return try await read { db in
            var places: [ClaimLines.Place] = []
            let place = try SQLiteRows(db, sql: "SELECT batch_id, leaf FROM session_claims WHERE session_id = ? AND id = ?")
            for key in keys {
                try place.query(.text(key.session), .text(key.id)) {
                    places.append(ClaimLines.Place(id: key.id, batch: $0.text(0), leaf: Int($0.integer(1))))
                }
            }
            return try Self.claims(db, at: places)
        }
    }

    /// The claims at `places`: from their batches' lines, or their own rows.
    static func claims(_ db: Database, at places: [ClaimLines.Place]) throws -> [ClaimRecord] {
        guard !places.isEmpty else { return [] }
        var texts: [String: String] = [:]
        let batch = try SQLiteRows(db, sql: "SELECT claims FROM receipt_batches WHERE id = ? AND claims IS NOT NULL")
        for id in Set(places.map(\.batch)) where !id.isEmpty {
            try batch.query(.text(id)) { texts[id] = $0.text(0) }
        }
        var (claims, ownRows) = try ClaimLines.claims(at: places, texts: texts)
        for slice in stride(from: 0, to: ownRows.count, by: 10_000).map({ Array(ownRows[$0..<min($0 + 10_000, ownRows.count)]) }) {
            claims += try Row.fetchAll(
                db, sql: "SELECT * FROM claims WHERE id IN (\(Self.sqlParameters(slice.count)))", arguments: StatementArguments(slice)
            )
            .map(Self.claim)
        }
        return claims
    }

    /// Claims kept in batches' lines, from `batches` rows with columns id and claims.
    static func batchClaims(_ db: Database, sql: String, arguments: StatementArguments) throws -> [ClaimRecord] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).flatMap { row in try ClaimLines.decode(row["claims"], batch: row["id"]) }
    }

    package func claims(node: String) async throws -> [ClaimRecord] {
        try await read { db in
            let own = try Row.fetchAll(db, sql: "SELECT * FROM claims WHERE node_id = ?", arguments: [node]).map(Self.claim)
            let batched = try Self.batchClaims(
                db,
                sql:
                    "SELECT b.id, b.claims FROM claim_nodes n JOIN receipt_batches b ON b.id = n.batch_id WHERE n.node_id = ? AND b.claims IS NOT NULL",
                arguments: [node])
            return ClaimLines.sorted(own + batched.filter { $0.node == node })
        }
    }

    package func saveClaims(_ save: ClaimsToSave) async throws {
        let (batches, lines, texts, ownRows) = (save.batches, save.lines, save.texts, save.ownRows)
        try await write { db in
            let nodeRow = try SQLiteRows(db, sql: "INSERT INTO claim_nodes (node_id, batch_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
            for batch in batches {
                try db.execute(
                    sql: "INSERT INTO receipt_batches (id, accepted_at, root, signature, leaves, claims) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [batch.id, batch.acceptedAt, batch.root, batch.signature, batch.leaves, texts[batch.id]])
                for node in Set((lines[batch.id] ?? []).map(\.node)) { try nodeRow.run(.text(node), .text(batch.id)) }
            }
            // Claims kept as lines wait for their session_claims rows (SQLiteStore+ClaimIndex);
            // claims kept on rows of their own (see ClaimLines.split) get theirs now.
            if let stored = try self.claimIndex.add(db, lines.values.flatMap { $0 }) {
                // Throwing rolls the whole transaction back.
                throw StoreFailure.duplicate("claim \(stored.id) of session \(stored.session) is already stored")
            }
            let insert = try SQLiteRows(
                db,
                sql: """
                    INSERT INTO claims (id, node_id, content_id, session_id, bytes, accepted_at, receipt, segments, ttfb_ms, first_at, last_at, batch_id, leaf)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            let keyRow = try SQLiteClaimIndex.rowInsert(db)
            for claim in ownRows {
                guard try SQLiteClaimIndex.addRow(of: claim, with: keyRow) == 1, !self.claimIndex.isWaiting(session: claim.session, id: claim.id) else {
                    throw StoreFailure.duplicate("claim \(claim.id) of session \(claim.session) is already stored")
                }
                self.claimIndex.indexed(session: claim.session, id: claim.id)
                try insert.run(
                    .text(claim.id), .text(claim.node), .text(claim.content), .text(claim.session), .integer(claim.bytes), .integer(claim.acceptedAt),
                    .text(claim.receipt), claim.segments.sqlite, claim.ttfbMilliseconds.sqlite, claim.firstAt.sqlite, claim.lastAt.sqlite,
                    claim.batch.sqlite,
                    claim.leaf.sqlite)
            }
        }
    }

    package func receiptBatches(ids: [String]) async throws -> [ReceiptBatch] {
        guard !ids.isEmpty else { return [] }
        return try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM receipt_batches WHERE id IN (\(Self.sqlParameters(ids.count)))", arguments: StatementArguments(ids)
            ).map {
                ReceiptBatch(id: $0["id"], acceptedAt: $0["accepted_at"], root: $0["root"], signature: $0["signature"], leaves: $0["leaves"])
            }
        }
    }

    package func claims(acceptedFrom from: Int64, to: Int64) async throws -> [ClaimRecord] {
        try await read { db in
            let own = try Row.fetchAll(db, sql: "SELECT * FROM claims WHERE accepted_at >= ? AND accepted_at < ?", arguments: [from, to]).map(
                Self.claim)
            // A batch's time is its first claim's; its last is at most ClaimLines.spread later.
            let batched = try Self.batchClaims(
                db, sql: "SELECT id, claims FROM receipt_batches WHERE accepted_at >= ? AND accepted_at < ? AND claims IS NOT NULL",
                arguments: [from - ClaimLines.spread, to])
            return ClaimLines.sorted(own + batched.filter { $0.acceptedAt >= from && $0.acceptedAt < to })
        }
    }

    static func sqlParameters(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ",") }

    static func claim(_ row: Row) -> ClaimRecord {
        ClaimRecord(
            id: row["id"], node: row["node_id"], content: row["content_id"], session: row["session_id"], bytes: row["bytes"],
            acceptedAt: row["accepted_at"], receipt: row["receipt"], segments: row["segments"], ttfbMilliseconds: row["ttfb_ms"],
            firstAt: row["first_at"],
            lastAt: row["last_at"], batch: row["batch_id"], leaf: row["leaf"])
    }
}
