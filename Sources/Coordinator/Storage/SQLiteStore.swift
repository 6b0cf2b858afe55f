import Foundation
import GRDB
import Synchronization

/// ``CoordinatorStore`` in one SQLite file (GRDB), in WAL mode: the default for a single
/// coordinator.
package final class SQLiteStore: CoordinatorStore {
    let database: DatabasePool
    /// A connection of its own that copies the write-ahead log into the database file after
    /// writes, so commits (which a claim round waits for) do not.
    let checkpointer: DatabaseQueue
    private let checkpointing = Mutex(false)
    /// The `session_claims` rows waiting to be written in bulk (SQLiteStore+ClaimIndex), and
    /// how many may.
    let waitingRows = Mutex(WaitingRows())
    /// The task writing a generation of them, if one was started.
    let generationWriter = Mutex<Task<Void, Never>?>(nil)
    let claimIndexRows: Int
    /// The keys the first filter of the table's keys holds (``KeyFilter``); later ones twice
    /// the last, up to 8 times as many.
    let filterKeys: Int

    /// Opens (creating) the file at `path`.
    /// - Parameters:
    ///   - claimIndexRows: how many claims' `session_claims` rows may wait to be written
    ///     together (SQLiteStore+ClaimIndex).
    ///   - filterKeys: the first filter's keys (default: 8 times `claimIndexRows`).
    /// - Throws: ``StoreFailure`` when the file cannot be opened as SQLite.
    package init(path: String, claimIndexRows: Int = 100_000, filterKeys: Int? = nil) throws {
        self.claimIndexRows = claimIndexRows
        self.filterKeys = max(1, filterKeys ?? claimIndexRows * 8)
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            // 64 MiB of page cache a connection (SQLite's default is 2 MiB): claim ids and
            // sessions are random keys, so a round's inserts touch pages all over their indexes.
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY")
            }
            database = try DatabasePool(path: path, configuration: configuration)
            checkpointer = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw StoreFailure.unavailable("cannot open the SQLite database \(path): \(error)")
        }
    }

    package func migrate() async throws {
        try await write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            let applied = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(version), 0) FROM schema_migrations") ?? 0
            for migration in Schema.migrations where migration.version > applied {
                for statement in Schema.statements(migration.statements, for: .sqlite) { try db.execute(sql: statement) }
                try db.execute(
                    sql: "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    arguments: [migration.version, Int64(Date().timeIntervalSince1970)])
            }
            try Self.recoverClaimIndex(db)
        }
    }

    package func schemaVersion() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(version), 0) FROM schema_migrations") ?? 0 }
    }

    package func saveNode(_ node: NodeRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO nodes (id, public_key, class, cores, ram_gb, mbps, gpu, disk_gb, ssd, latitude, longitude, url,
                                       registered_at, last_heartbeat, load, free_cache, healthy, transcodes)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key, class = excluded.class, cores = excluded.cores,
                        ram_gb = excluded.ram_gb, mbps = excluded.mbps, gpu = excluded.gpu, disk_gb = excluded.disk_gb, ssd = excluded.ssd,
                        latitude = excluded.latitude, longitude = excluded.longitude, url = excluded.url,
                        registered_at = excluded.registered_at, last_heartbeat = excluded.last_heartbeat, load = excluded.load,
                        free_cache = excluded.free_cache, healthy = excluded.healthy, transcodes = excluded.transcodes
                    """,
                arguments: [
                    node.id, node.publicKey, node.deviceClass, node.cores, node.ramGB, node.mbps, node.gpu, node.diskGB, node.ssd,
                    node.latitude, node.longitude, node.url, node.registeredAt, node.lastHeartbeat, node.load, node.freeCache, node.healthy,
                    node.transcodes,
                ])
        }
    }

    package func node(id: String) async throws -> NodeRecord? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM nodes WHERE id = ?", arguments: [id]).map(Self.node) }
    }

    package func nodes() async throws -> [NodeRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM nodes ORDER BY id").map(Self.node) }
    }

    package func recordHeartbeat(_ beat: Heartbeat) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE nodes SET last_heartbeat = ?, load = ?, free_cache = ?, healthy = ? WHERE id = ?",
                arguments: [beat.at, beat.load, beat.freeCache, beat.healthy, beat.node])
            return db.changesCount == 1
        }
    }

    package func useNonce(node: String, nonce: String, at: Int64) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO nonces (node_id, nonce, used_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", arguments: [node, nonce, at])
            return db.changesCount == 1
        }
    }

    package func pruneNonces(before time: Int64) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM nonces WHERE used_at < ?", arguments: [time]) }
    }

    package func append(_ event: LedgerEvent) async throws -> LedgerEvent {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO ledger (node_id, kind, amount, reason, evidence, at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [event.node, event.kind.rawValue, event.amount, event.reason, event.evidence, event.at])
            var stored = event
            stored.sequence = db.lastInsertedRowID
            return stored
        }
    }

    package func ledger(node: String?) async throws -> [LedgerEvent] {
        try await read { db in
            let rows =
                try node.map { try Row.fetchAll(db, sql: "SELECT * FROM ledger WHERE node_id = ? ORDER BY seq", arguments: [$0]) }
                ?? Row.fetchAll(db, sql: "SELECT * FROM ledger ORDER BY seq")
            return try rows.map(Self.event)
        }
    }

    package func saveContent(_ content: ContentRecord) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO contents (id, manifest, sealed_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [content.id, content.manifest, content.sealedKey, content.createdAt])
            guard db.changesCount == 1 else { throw StoreFailure.duplicate("content \(content.id) is already registered") }
        }
    }

    package func content(id: String) async throws -> ContentRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM contents WHERE id = ?", arguments: [id]).map {
                ContentRecord(id: $0["id"], manifest: $0["manifest"], sealedKey: $0["sealed_key"], createdAt: $0["created_at"])
            }
        }
    }

    package func contentIDs() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "SELECT id FROM contents ORDER BY id") }
    }

    package func addTask(_ task: TaskRecord) async throws -> TaskRecord? {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO tasks (node_id, content_id, kind, created_at, done_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [task.node, task.content, task.kind.rawValue, task.createdAt, task.doneAt])
            guard db.changesCount == 1 else { return nil }
            var stored = task
            stored.sequence = db.lastInsertedRowID
            return stored
        }
    }

    package func tasks(node: String, after: Int64) async throws -> [TaskRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tasks WHERE node_id = ? AND seq > ? ORDER BY seq", arguments: [node, after]).map(Self.task)
        }
    }

    package func tasks(content: String) async throws -> [TaskRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tasks WHERE content_id = ? ORDER BY seq", arguments: [content]).map(Self.task)
        }
    }

    package func completeTask(node: String, content: String, kind: TaskRecord.Kind, at: Int64) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE tasks SET done_at = COALESCE(done_at, ?) WHERE node_id = ? AND content_id = ? AND kind = ?",
                arguments: [at, node, content, kind.rawValue])
            return db.changesCount == 1
        }
    }

    /// Writes many nodes and ledger events in one transaction (benchmarks seed a database
    /// with 100,000 edges this way; one transaction each would take minutes).
    package func seed(nodes: [NodeRecord], events: [LedgerEvent]) async throws {
        try await write { db in
            for node in nodes {
                try db.execute(
                    sql: """
                        INSERT INTO nodes (id, public_key, class, cores, ram_gb, mbps, gpu, disk_gb, ssd, latitude, longitude, url,
                                           registered_at, last_heartbeat, load, free_cache, healthy, transcodes)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        node.id, node.publicKey, node.deviceClass, node.cores, node.ramGB, node.mbps, node.gpu, node.diskGB, node.ssd,
                        node.latitude, node.longitude, node.url, node.registeredAt, node.lastHeartbeat, node.load, node.freeCache, node.healthy,
                        node.transcodes,
                    ])
            }
            for event in events {
                try db.execute(
                    sql: "INSERT INTO ledger (node_id, kind, amount, reason, evidence, at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [event.node, event.kind.rawValue, event.amount, event.reason, event.evidence, event.at])
            }
        }
    }

    package func close() async throws {
        try await flushClaimIndex()
        await generationsWritten()
        try database.close()
        try checkpointer.close()
    }

    // MARK: -

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await database.read(body) } catch let failure as StoreFailure { throw failure } catch {
            throw StoreFailure.unavailable("SQLite: \(error)")
        }
    }

    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        let result: T
        do { result = try await database.write(body) } catch let failure as StoreFailure { throw failure } catch {
            throw StoreFailure.unavailable("SQLite: \(error)")
        }
        checkpoint()
        return result
    }

    /// Starts copying the log into the database unless a copy is under way (PASSIVE: it
    /// never blocks readers or the writer).
    private func checkpoint() {
        guard
            checkpointing.withLock({ running in
                defer { running = true }
                return !running
            })
        else { return }
        checkpointer.asyncWriteWithoutTransaction { [self] db in
            _ = try? db.checkpoint(.passive)
            checkpointing.withLock { $0 = false }
        }
    }

    static func node(_ row: Row) -> NodeRecord {
        NodeRecord(
            id: row["id"], publicKey: row["public_key"], deviceClass: row["class"], cores: row["cores"], ramGB: row["ram_gb"],
            mbps: row["mbps"], gpu: row["gpu"], diskGB: row["disk_gb"], ssd: row["ssd"], latitude: row["latitude"],
            longitude: row["longitude"], url: row["url"], registeredAt: row["registered_at"], lastHeartbeat: row["last_heartbeat"],
            load: row["load"], freeCache: row["free_cache"], healthy: row["healthy"], transcodes: row["transcodes"])
    }

    static func task(_ row: Row) throws -> TaskRecord {
        guard let kind = TaskRecord.Kind(rawValue: row["kind"]) else {
            throw StoreFailure.corrupt("task \(row["seq"] as Int64? ?? -1) has an unknown kind")
        }
        return TaskRecord(
            sequence: row["seq"], node: row["node_id"], content: row["content_id"], kind: kind, createdAt: row["created_at"],
            doneAt: row["done_at"])
    }

    static func event(_ row: Row) throws -> LedgerEvent {
        guard let kind = LedgerEvent.Kind(rawValue: row["kind"]) else {
            throw StoreFailure.corrupt("ledger entry \(row["seq"] as Int64? ?? -1) has an unknown kind")
        }
        return LedgerEvent(
            sequence: row["seq"], node: row["node_id"], kind: kind, amount: row["amount"], reason: row["reason"],
            evidence: row["evidence"], at: row["at"])
    }
}
