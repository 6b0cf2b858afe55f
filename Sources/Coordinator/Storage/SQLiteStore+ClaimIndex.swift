import GRDB
import Synchronization

/// `session_claims` for SQLite, written in bulk.
///
/// A claim kept as a line of its receipt batch is durable once the batch row is committed; its
/// `session_claims` row (by session and id: the index that refuses it twice and sums a session)
/// can follow. Written with every round, those rows cost one random B-tree page a claim, since
/// sessions and ids are random: as the table grows, each commit rewrites pages all over it.
/// So a save puts the rows in `temp.waiting_claims` (the writer connection's own table, in
/// memory, keyed like `session_claims`: it refuses a claim twice, and rolls back with the
/// save); when ``SQLiteStore/claimIndexRows`` of them wait (100,000), before anything reads the
/// table, and when the store closes, they go into `session_claims` in key order, each page
/// rewritten once. `claim_index.upto` says up to which batch (rowid) the rows are in; a store
/// opened after a crash writes the rows of the batches past it from their lines
/// (``SQLiteStore/recoverClaimIndex(_:)``).
extension SQLiteStore {
    /// Inside a save, after its batches are inserted: the rows of `claims` (kept as lines of
    /// their batches) wait; answers a claim that is stored, waiting, or there twice.
    func waitForIndex(_ db: Database, _ claims: [ClaimRecord]) throws -> ClaimRecord? {
        try db.execute(
            sql: """
                CREATE TEMP TABLE IF NOT EXISTS waiting_claims (
                    session_id TEXT NOT NULL, id TEXT NOT NULL, node_id TEXT NOT NULL, bytes BIGINT NOT NULL, batch_id TEXT NOT NULL,
                    leaf INTEGER NOT NULL, PRIMARY KEY (session_id, id)) WITHOUT ROWID
                """)
        let probe = try SQLiteRows(db, sql: "SELECT 1 FROM main.session_claims WHERE session_id = ? AND id = ?")
        let wait = try SQLiteRows(
            db,
            sql: "INSERT INTO temp.waiting_claims (session_id, id, node_id, bytes, batch_id, leaf) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
        // A claim of a session after the newest one in the table (by the table's byte order;
        // session ids begin with when they were issued) is not there: no look-up.
        let newest = try String.fetchOne(db, sql: "SELECT MAX(session_id) FROM main.session_claims")
        for claim in claims {
            var stored = false
            if let newest, !newest.utf8.lexicographicallyPrecedes(claim.session.utf8) {
                try probe.query(.text(claim.session), .text(claim.id)) { _ in stored = true }
            }
            if try stored || Self.addIndexRow(of: claim, with: wait) != 1 { return claim }
        }
        let count = claims.count
        if claimsWaiting.withLock({ $0 }) + count >= claimIndexRows {
            try Self.writeWaitingRows(db)
            db.afterNextTransaction(onCommit: { _ in self.claimsWaiting.withLock { $0 = 0 } })
        } else {
            db.afterNextTransaction(onCommit: { _ in self.claimsWaiting.withLock { $0 += count } })
        }
        return nil
    }

    /// A claim's `session_claims` row, inserted with `insert` (a statement taking the table's six
    /// columns); answers how many rows it added.
    @discardableResult
    static func addIndexRow(of claim: ClaimRecord, with insert: SQLiteRows) throws -> Int {
        try insert.run(
            .text(claim.session), .text(claim.id), .text(claim.node), .integer(claim.bytes), .text(claim.batch ?? ""), .integer(Int64(claim.leaf ?? -1)))
    }

    /// The statement that inserts a `session_claims` row, skipping one already there.
    static func indexRowInsert(_ db: Database) throws -> SQLiteRows {
        try SQLiteRows(
            db, sql: "INSERT INTO session_claims (session_id, id, node_id, bytes, batch_id, leaf) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
    }

    /// Whether a claim of `session` and `id` waits (own rows are checked against the waiting
    /// ones too).
    static func isWaiting(_ db: Database, session: String, id: String) throws -> Bool {
        guard try db.tableExists("waiting_claims", in: "temp") else { return false }
        var found = false
        try SQLiteRows(db, sql: "SELECT 1 FROM temp.waiting_claims WHERE session_id = ? AND id = ?").query(.text(session), .text(id)) { _ in
            found = true
        }
        return found
    }

    /// Inside a write: the waiting rows go into `session_claims`, in key order, and every batch
    /// committed so far is recorded as indexed.
    static func writeWaitingRows(_ db: Database) throws {
        guard try db.tableExists("waiting_claims", in: "temp") else { return }
        try db.execute(
            sql: """
                INSERT INTO main.session_claims (session_id, id, node_id, bytes, batch_id, leaf)
                SELECT session_id, id, node_id, bytes, batch_id, leaf FROM temp.waiting_claims ORDER BY session_id, id;
                DELETE FROM temp.waiting_claims;
                UPDATE claim_index SET upto = (SELECT COALESCE(MAX(rowid), 0) FROM receipt_batches)
                """)
    }

    /// Writes every waiting row, in a transaction of its own (before a read of the table, and
    /// when the store closes).
    func flushClaimIndex() async throws {
        guard claimsWaiting.withLock({ $0 > 0 }) else { return }
        try await write { db in
            try Self.writeWaitingRows(db)
            db.afterNextTransaction(onCommit: { _ in self.claimsWaiting.withLock { $0 = 0 } })
        }
    }

    /// After a crash: the rows of batches committed past `claim_index.upto`, from their lines.
    static func recoverClaimIndex(_ db: Database) throws {
        let upto = try Int64.fetchOne(db, sql: "SELECT upto FROM claim_index") ?? 0
        let insert = try indexRowInsert(db)
        for claim in try batchClaims(db, sql: "SELECT id, claims FROM receipt_batches WHERE rowid > ? AND claims IS NOT NULL", arguments: [upto]) {
            try addIndexRow(of: claim, with: insert)
        }
        try db.execute(sql: "UPDATE claim_index SET upto = (SELECT COALESCE(MAX(rowid), 0) FROM receipt_batches)")
    }
}
