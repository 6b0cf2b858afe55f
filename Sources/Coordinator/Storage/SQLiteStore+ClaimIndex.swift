import GRDB
import Synchronization

/// `session_claims` for SQLite, written in bulk.
///
/// A claim kept as a line of its receipt batch is durable once the batch row is committed; its
/// `session_claims` row (by session and id: the index that refuses it twice and sums a session)
/// can follow. Written with every round, those rows cost one random B-tree page a claim, since
/// sessions and ids are random: as the table grows, each commit rewrites pages all over it. So
/// the rows of committed batches wait in memory and go in together, sorted, when
/// ``SQLiteStore/claimIndexRows`` of them wait (100,000), before anything reads the table, and when
/// the store closes; `claim_index.upto` says up to which batch (rowid) they are in, and a store
/// opened after a crash writes the rows of the batches past it from their lines
/// (``SQLiteStore/recoverClaimIndex(_:)``). Claims are checked against the waiting rows and the
/// table before anything is written, so the store still refuses a claim twice.
extension SQLiteStore {
    struct ClaimIndex {
        /// Rows whose claims are committed, not yet in `session_claims`, and their keys.
        var rows: [Row] = []
        var keys: Set<SessionClaim.Key> = []

        struct Row {
            var key: SessionClaim.Key
            var node: String
            var bytes: Int64
            var batch: String
            var leaf: Int
        }
    }

    /// Adds `rows` to the waiting ones unless one of their claims is stored, waiting, or there
    /// twice; answers that claim, or nil. The rows leave again if the transaction rolls back.
    func addWaitingRows(_ db: Database, _ rows: [ClaimIndex.Row]) throws -> SessionClaim.Key? {
        let probe = try SQLiteRows(db, sql: "SELECT 1 FROM session_claims WHERE session_id = ? AND id = ?")
        return try claimIndex.withLock { index in
            var added = 0
            var refused: SessionClaim.Key?
            for row in rows {
                var found = false
                try probe.query(.text(row.key.session), .text(row.key.id)) { _ in found = true }
                guard !found, index.keys.insert(row.key).inserted else {
                    refused = row.key
                    break
                }
                added += 1
            }
            if let refused {
                for row in rows.prefix(added) { index.keys.remove(row.key) }
                return refused
            }
            index.rows += rows
            let count = rows.count
            db.afterNextTransaction(
                onCommit: { _ in },
                onRollback: { _ in
                    self.claimIndex.withLock { index in
                        for row in index.rows.suffix(count) { index.keys.remove(row.key) }
                        index.rows.removeLast(count)
                    }
                })
            return nil
        }
    }

    /// Inserts `rows` into `session_claims`, sorted (neighbouring keys share pages), and
    /// records that every batch committed so far is indexed.
    static func insertIndexRows(_ db: Database, _ rows: [ClaimIndex.Row]) throws {
        let insert = try SQLiteRows(db, sql: "INSERT INTO session_claims (session_id, id, node_id, bytes, batch_id, leaf) VALUES (?, ?, ?, ?, ?, ?)")
        for row in rows.sorted(by: { ($0.key.session, $0.key.id) < ($1.key.session, $1.key.id) }) {
            try insert.run(.text(row.key.session), .text(row.key.id), .text(row.node), .integer(row.bytes), .text(row.batch), .integer(Int64(row.leaf)))
        }
        try db.execute(sql: "UPDATE claim_index SET upto = (SELECT COALESCE(MAX(rowid), 0) FROM receipt_batches)")
    }

    /// Writes the waiting rows, in a transaction of their own (before a read of the table).
    func flushClaimIndex() async throws {
        guard claimIndex.withLock({ !$0.rows.isEmpty }) else { return }
        try await write { db in try self.flushWaitingRows(db) }
    }

    /// Inside a write: the waiting rows go into the table; they are forgotten once the
    /// transaction commits (kept if it rolls back).
    func flushWaitingRows(_ db: Database) throws {
        let rows = claimIndex.withLock { $0.rows }
        guard !rows.isEmpty else { return }
        try Self.insertIndexRows(db, rows)
        let count = rows.count
        db.afterNextTransaction(onCommit: { _ in
            self.claimIndex.withLock { index in
                for row in index.rows.prefix(count) { index.keys.remove(row.key) }
                index.rows.removeFirst(count)
            }
        })
    }

    /// After a crash: the rows of batches committed past `claim_index.upto`, from their lines.
    static func recoverClaimIndex(_ db: Database) throws {
        let upto = try Int64.fetchOne(db, sql: "SELECT upto FROM claim_index") ?? 0
        var rows: [ClaimIndex.Row] = []
        for claim in try batchClaims(db, sql: "SELECT id, claims FROM receipt_batches WHERE rowid > ? AND claims IS NOT NULL", arguments: [upto]) {
            rows.append(ClaimIndex.Row(key: SessionClaim.Key(session: claim.session, id: claim.id), node: claim.node, bytes: claim.bytes, batch: claim.batch ?? "", leaf: claim.leaf ?? -1))
        }
        try insertIndexRows(db, rows)
    }
}
