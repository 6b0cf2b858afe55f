import Foundation
import GRDB
import Synchronization

/// `session_claims` for SQLite, written in bulk: a type of its own, which ``SQLiteStore`` holds
/// and asks in every save of claims.
///
/// A claim kept as a line of its receipt batch is durable once the batch row is committed; its
/// `session_claims` row (by session and id: the index that refuses it twice and sums a session)
/// can follow. Written with every round, those rows cost one random B-tree page a claim, since
/// sessions and ids are random: as the table grows, each commit rewrites pages all over it.
/// So a save keeps the rows in memory (``WaitingRows``: a claim waiting is refused twice too;
/// the rows of a save that rolls back are dropped). When ``capacity`` of them
/// wait (100,000), they become a generation, sorted by key, which a task of its own writes into
/// the table a tenth at a time, each part a transaction between the saves (which would
/// otherwise all wait for one long write); new rows wait meanwhile. Before anything reads the
/// table, and when the store closes, every row waiting goes in at once. `claim_index.upto` says
/// up to which receipt batch (rowid) every row is in; a store opened after a crash writes the
/// rows of the batches past it from their lines (``recover(_:)``),
/// skipping those a generation had written.
///
/// A save looks a claim up in the table only when it may be there: a Bloom filter
/// (``KeyFilter``) holds the key of every row put in the table since it began, and rows from
/// before hold sessions not after the newest one then (the floor).
///
/// ## Performance characteristics
/// A waiting row costs a hash of its session and id and one into the filter; a claim looks the
/// table up when its session is not after the floor, or in about 1 case in 100 otherwise (a
/// look-up in a table of 100,000 rows or more cost about 3 µs, more than anything else a save
/// did); writing the rows, a sort by their first bytes and one insert each. (An in-memory
/// SQLite table for the waiting rows cost about three times as much: a B-tree insert of a
/// random key a claim; one write of all 100,000 rows left the saves queued behind it for a
/// fifth of a second, and both cores' work with them.)
///
/// Thread-safe: one `Mutex` guards the waiting rows; only the store's writer connection, on its
/// queue, changes them.
final class SQLiteClaimIndex: Sendable {
    /// The rows waiting (see ``WaitingRows``).
    let waiting = Mutex(WaitingRows())
    /// The task writing a generation of them, if one was started.
    private let generationWriter = Mutex<Task<Void, Never>?>(nil)
    /// How many claims' rows may wait to be written together.
    let capacity: Int
    /// The keys the first filter of the table's keys holds (``KeyFilter``); later ones twice
    /// the last, up to 8 times as many.
    let filterKeys: Int
    /// Runs a write on the store's writer connection (``SQLiteStore/write(_:)``: errors mapped,
    /// a checkpoint after).
    private let write: @Sendable (@escaping @Sendable (Database) throws -> Void) async throws -> Void

    init(capacity: Int, filterKeys: Int, write: @escaping @Sendable (@escaping @Sendable (Database) throws -> Void) async throws -> Void) {
        self.capacity = capacity
        self.filterKeys = filterKeys
        self.write = write
    }

    /// The `session_claims` rows waiting, and their keys: those saved since the last
    /// generation, and the generation being written. Only the writer connection, on its queue,
    /// changes them.
    struct WaitingRows {
        /// A row's session and id, compared and hashed by their bytes, as the table's key is
        /// (SQLite's binary collation; cheaper than String's Unicode-aware equality and hash).
        struct Key: Hashable {
            var session: String
            var id: String

            static func == (a: Key, b: Key) -> Bool { a.session.sameBytes(as: b.session) && a.id.sameBytes(as: b.id) }

            func hash(into hasher: inout Hasher) {
                session.withBytes { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
                hasher.combine(UInt8(0))  // (no key's text holds a 0)
                id.withBytes { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            }

            /// Whether this key comes before `other` in the table's order (bytes, then length).
            func precedes(_ other: Key) -> Bool {
                session.sameBytes(as: other.session)
                    ? id.utf8.lexicographicallyPrecedes(other.id.utf8) : session.utf8.lexicographicallyPrecedes(other.session.utf8)
            }
        }
        struct Row {
            var key: Key
            var node: String
            var bytes: Int64
            var batch: String
            var leaf: Int

            /// A row of empty strings (none on the heap): what a row moved away leaves.
            static let empty = Row(key: Key(session: "", id: ""), node: "", bytes: 0, batch: "", leaf: 0)
        }
        /// Saved since the last generation, in the order saved.
        var rows: [Row] = []
        var keys: Set<Key> = []
        /// The generation being written, in key order, how far it is written, and the newest
        /// receipt batch whose rows it completes.
        var generation: [Row] = []
        var generationKeys: Set<Key> = []
        var generationWritten = 0
        var generationUpto: Int64 = 0
        /// A task writes the generation.
        var writing = false
        /// Every key in the table is either in ``filter`` or not after `floor` (the newest
        /// session in the table when the filter began; nil before the first save).
        var filter: KeyFilter?
        var floor: String?
        /// The transaction under way: where its rows begin, whether it wrote every row, the
        /// end of the part of the generation it wrote, the newest batch when its rows made a
        /// generation due, whether it will tell ``ended(committed:)`` how it ends.
        var firstAdded: Int?
        var wroteAll = false
        var wroteUpTo: Int?
        var dueUpto: Int64?
        var observing = false

        /// Whether a claim of `key` waits.
        func contains(_ key: Key) -> Bool { keys.contains(key) || (!generationKeys.isEmpty && generationKeys.contains(key)) }

        /// Adds `row` unless its key waits already (answers whether it did).
        mutating func add(_ row: Row) -> Bool {
            guard generationKeys.isEmpty || !generationKeys.contains(row.key), keys.insert(row.key).inserted else { return false }
            filter?.insert(row.key)
            if firstAdded == nil { firstAdded = rows.count }
            rows.append(row)
            return true
        }

        /// The transaction ended: its rows stay (or all go, once written; or its part of the
        /// generation does), or its own go. Answers whether a generation is now to be written.
        mutating func ended(committed: Bool) -> Bool {
            if committed, wroteAll {
                rows.removeAll(keepingCapacity: true)
                keys.removeAll(keepingCapacity: true)
                (generation, generationKeys, generationWritten) = ([], [], 0)
            } else if committed, let wroteUpTo {
                generationWritten = wroteUpTo
                if generationWritten == generation.count { (generation, generationKeys, generationWritten) = ([], [], 0) }
            } else if !committed, let firstAdded {
                for row in rows[firstAdded...] { keys.remove(row.key) }
                rows.removeSubrange(firstAdded...)
            }
            var start = false
            if committed, let dueUpto, !wroteAll {
                if generation.isEmpty, !rows.isEmpty {
                    generation = Self.sorted(taking: &rows)
                    (generationKeys, generationUpto) = (keys, dueUpto)
                    rows.removeAll(keepingCapacity: true)
                    keys = []
                    keys.reserveCapacity(generationKeys.count)
                }
                start = !generation.isEmpty && !writing
                writing = writing || start
            }
            (firstAdded, wroteAll, wroteUpTo, dueUpto, observing) = (nil, false, nil, nil, false)
            return start
        }

        /// Every row waiting, in key order (the generation's rest, then the newer ones).
        var all: [Row] {
            var newer = rows
            return Array(generation[generationWritten...]) + Self.sorted(taking: &newer)
        }

        /// `rows` in the table's key order: by the first 16 bytes of their session as a number,
        /// their whole keys where those tie. The rows are moved, not copied (a copy retains
        /// four strings a row, each far apart in memory): `rows` is left holding empty ones.
        static func sorted(taking rows: inout [Row]) -> [Row] {
            var order = rows.indices.map { (prefix: prefix(rows[$0].key.session), index: Int32($0)) }
            order.sort { a, b in
                a.prefix != b.prefix ? a.prefix < b.prefix : rows[Int(a.index)].key.precedes(rows[Int(b.index)].key)
            }
            let count = rows.count
            return rows.withUnsafeMutableBufferPointer { source in
                [Row](unsafeUninitializedCapacity: count) { sorted, initialized in
                    for (position, entry) in order.enumerated() {
                        let from = source.baseAddress! + Int(entry.index)
                        (sorted.baseAddress! + position).initialize(to: from.move())
                        from.initialize(to: Row.empty)
                    }
                    initialized = count
                }
            }
        }

        /// The first 16 bytes of `text` as a big-endian number, zeros after a shorter text.
        static func prefix(_ text: String) -> UInt128 {
            text.withBytes { bytes in
                var number: UInt128 = 0
                for index in 0..<16 { number = number << 8 | UInt128(index < bytes.count ? bytes[index] : 0) }
                return number
            }
        }
    }

    /// Inside a save, after its batches are inserted: the rows of `claims` (kept as lines of
    /// their batches) wait; answers a claim that is stored, waiting, or there twice.
    func add(_ db: Database, _ claims: [ClaimRecord]) throws -> ClaimRecord? {
        observeTransaction(db)
        let probe = try SQLiteRows(db, sql: "SELECT 1 FROM main.session_claims WHERE session_id = ? AND id = ?")
        let floor = try startFilter(db)
        // Looked up in the table only when it may hold the claim: its session is not after
        // the floor (by the table's byte order), or the filter has its key (about 1 in 100
        // of those it does not hold). Then in the table's order: each look-up finds the pages
        // of the one before in the cache.
        var asked = waiting.withLock { waiting in
            claims.indices.filter { index in
                floor.map { !$0.utf8.lexicographicallyPrecedes(claims[index].session.utf8) } ?? false
                    || waiting.filter!.mayContain(WaitingRows.Key(session: claims[index].session, id: claims[index].id))
            }
        }.map { (prefix: WaitingRows.prefix(claims[$0].session), index: $0) }
        asked.sort { $0.prefix < $1.prefix }
        for (_, index) in asked {
            var stored = false
            try probe.query(.text(claims[index].session), .text(claims[index].id)) { _ in stored = true }
            if stored { return claims[index] }
        }
        let (twice, count) = waiting.withLock { waiting -> (ClaimRecord?, Int) in
            if waiting.keys.isEmpty { waiting.keys.reserveCapacity(capacity) }
            for claim in claims {
                let row = WaitingRows.Row(
                    key: WaitingRows.Key(session: claim.session, id: claim.id), node: claim.node, bytes: claim.bytes, batch: claim.batch ?? "",
                    leaf: claim.leaf ?? -1)
                guard waiting.add(row) else { return (claim, 0) }
            }
            return (nil, waiting.rows.count)
        }
        if let twice { return twice }
        if count >= capacity {
            // A generation, once this save commits: its rows complete every batch up to its own.
            let upto = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(rowid), 0) FROM receipt_batches") ?? 0
            waiting.withLock { $0.dueUpto = upto }
        }
        return nil
    }

    /// The filter of the keys put in the table, begun (or begun again, when full) with the
    /// newest session in the table as its floor; the rows still waiting go in it again.
    /// - Returns: the floor.
    private func startFilter(_ db: Database) throws -> String? {
        let (ready, current) = waiting.withLock { ($0.filter.map { !$0.isFull } ?? false, $0.floor) }
        if ready { return current }
        let floor = try String.fetchOne(db, sql: "SELECT MAX(session_id) FROM main.session_claims")
        waiting.withLock { waiting in
            // Twice the last one's keys (up to 8 times the first's): it fills up less often.
            var filter = KeyFilter(capacity: min(filterKeys * 8, max(filterKeys, (waiting.filter?.capacity ?? 0) * 2)))
            for row in waiting.generation[waiting.generationWritten...] { filter.insert(row.key) }
            for row in waiting.rows { filter.insert(row.key) }
            (waiting.filter, waiting.floor) = (filter, floor)
        }
        return floor
    }

    /// A claim's own `session_claims` row went in (see ``addRow(of:with:)``).
    func indexed(session: String, id: String) {
        waiting.withLock { $0.filter?.insert(WaitingRows.Key(session: session, id: id)) }
    }

    /// Whether a claim of `session` and `id` waits (own rows are checked against the waiting
    /// ones too).
    func isWaiting(session: String, id: String) -> Bool {
        waiting.withLock { $0.contains(WaitingRows.Key(session: session, id: id)) }
    }

    /// A claim's `session_claims` row, inserted with `insert` (a statement taking the table's six
    /// columns); answers how many rows it added.
    @discardableResult
    static func addRow(of claim: ClaimRecord, with insert: SQLiteRows) throws -> Int {
        try insert.run(
            .text(claim.session), .text(claim.id), .text(claim.node), .integer(claim.bytes), .text(claim.batch ?? ""),
            .integer(Int64(claim.leaf ?? -1)))
    }

    /// The statement that inserts a `session_claims` row, skipping one already there.
    static func rowInsert(_ db: Database) throws -> SQLiteRows {
        try SQLiteRows(
            db, sql: "INSERT INTO session_claims (session_id, id, node_id, bytes, batch_id, leaf) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
    }

    /// Inside a write: every row waiting goes into `session_claims`, in key order, and every
    /// batch committed so far is recorded as indexed. They leave memory when the write commits.
    private func writeWaitingRows(_ db: Database) throws {
        observeTransaction(db)
        try Self.insert(waiting.withLock { $0.all }[...], db)
        try db.execute(sql: "UPDATE claim_index SET upto = (SELECT COALESCE(MAX(rowid), 0) FROM receipt_batches)")
        waiting.withLock { $0.wroteAll = true }
    }

    /// Inserts waiting rows into `session_claims` (a key already there fails the write).
    private static func insert(_ rows: ArraySlice<WaitingRows.Row>, _ db: Database) throws {
        let insert = try SQLiteRows(
            db, sql: "INSERT INTO main.session_claims (session_id, id, node_id, bytes, batch_id, leaf) VALUES (?, ?, ?, ?, ?, ?)")
        // (By index, in place: a `for row in rows` copies each row, four strings retained.)
        try rows.withUnsafeBufferPointer { rows in for index in rows.indices { try insert.insert(rows[index]) } }
    }

    /// Writes the generation a tenth at a time, a transaction each, and any that comes due
    /// meanwhile. When a write fails the rows wait on: the next save that finds a generation
    /// due starts a writer again, and a read or the store's close writes them all.
    private func writeGeneration() async {
        let part = max(1, capacity / 10)
        while true {
            let continues = Mutex(false)
            do {
                try await write { db in
                    self.observeTransaction(db)
                    let (rows, end, upto) = self.waiting.withLock { waiting in
                        let end = min(waiting.generationWritten + part, waiting.generation.count)
                        return (waiting.generation[waiting.generationWritten..<end], end, waiting.generationUpto)
                    }
                    guard !rows.isEmpty else { return }
                    try Self.insert(rows, db)
                    let last = self.waiting.withLock { waiting in
                        waiting.wroteUpTo = end
                        return end == waiting.generation.count
                    }
                    if last { try db.execute(sql: "UPDATE claim_index SET upto = MAX(upto, ?)", arguments: [upto]) }
                    continues.withLock { $0 = !last }
                }
            } catch {
                waiting.withLock { $0.writing = false }
                return
            }
            if continues.withLock({ $0 }) { continue }
            let done = waiting.withLock { waiting in
                if waiting.generation.isEmpty { waiting.writing = false }
                return !waiting.writing
            }
            if done { return }
        }
    }

    /// Waits until no generation is being written (for the store's close, and tests).
    func generationsWritten() async {
        while let writer = generationWriter.withLock({ $0 }) {
            await writer.value
            // (A writer started meanwhile is waited for too.)
            let last = generationWriter.withLock { current in
                defer { if current == writer { current = nil } }
                return current == writer
            }
            if last { return }
        }
    }

    /// Has the waiting rows told how the transaction under way ends (and a generation that
    /// came due written).
    private func observeTransaction(_ db: Database) {
        let observed = waiting.withLock { waiting in
            defer { waiting.observing = true }
            return waiting.observing
        }
        guard !observed else { return }
        db.afterNextTransaction(
            onCommit: { _ in
                guard self.waiting.withLock({ $0.ended(committed: true) }) else { return }
                let writer = Task { await self.writeGeneration() }
                self.generationWriter.withLock { $0 = writer }
            },
            onRollback: { _ in _ = self.waiting.withLock { $0.ended(committed: false) } })
    }

    /// Writes every waiting row, in a transaction of its own (before a read of the table, and
    /// when the store closes).
    func flush() async throws {
        guard waiting.withLock({ !$0.rows.isEmpty || !$0.generation.isEmpty }) else { return }
        try await write { db in try self.writeWaitingRows(db) }
    }

    /// After a crash: the rows of batches committed past `claim_index.upto`, from their lines.
    static func recover(_ db: Database) throws {
        let upto = try Int64.fetchOne(db, sql: "SELECT upto FROM claim_index") ?? 0
        let insert = try rowInsert(db)
        for claim in try SQLiteStore.batchClaims(db, sql: "SELECT id, claims FROM receipt_batches WHERE rowid > ? AND claims IS NOT NULL", arguments: [upto]) {
            try addRow(of: claim, with: insert)
        }
        try db.execute(sql: "UPDATE claim_index SET upto = (SELECT COALESCE(MAX(rowid), 0) FROM receipt_batches)")
    }
}

extension SQLiteRows {
    /// Inserts a waiting row with a statement taking the table's six columns, its text bound
    /// in place (no copies).
    fileprivate func insert(_ row: SQLiteClaimIndex.WaitingRows.Row) throws {
        try runInPlace { binding in
            row.key.session.withBytes { session in
                row.key.id.withBytes { id in
                    row.node.withBytes { node in
                        row.batch.withBytes { batch in
                            binding.text(1, session)
                            binding.text(2, id)
                            binding.text(3, node)
                            binding.integer(4, row.bytes)
                            binding.text(5, batch)
                            binding.integer(6, Int64(row.leaf))
                            return binding.step()
                        }
                    }
                }
            }
        }
    }
}

extension String {
    /// Runs `body` on the UTF-8 bytes, in place when the string keeps them contiguous (no
    /// copy of the string, as `withUTF8` on a `var` would make).
    func withBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = self
        return copy.withUTF8(body)
    }

    /// Whether both hold the same UTF-8 bytes.
    func sameBytes(as other: String) -> Bool {
        withBytes { a in other.withBytes { b in a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) } }
    }
}
