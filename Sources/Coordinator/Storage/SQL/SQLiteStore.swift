import Foundation
import GRDB
import Synchronization

/// ``CoordinatorStore`` in one SQLite file (GRDB), in WAL mode: the default for a single
/// coordinator.
package final class SQLiteStore: CoordinatorStore {
    let database: DatabasePool
    /// Copies the write-ahead log into the database file after writes.
    let checkpointer: WALCheckpointer
    /// `session_claims`, written in bulk.
    let claimIndex: SQLiteClaimIndex

    /// Opens (creating) the file at `path`.
    /// - Parameters:
    ///   - claimIndexRows: how many claims' `session_claims` rows may wait to be written
    ///     together (``SQLiteClaimIndex``).
    ///   - filterKeys: the first filter's keys (default: 8 times `claimIndexRows`).
    /// - Throws: ``StoreFailure`` when the file cannot be opened as SQLite.
    package init(path: String, claimIndexRows: Int = 100_000, filterKeys: Int? = nil) throws {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            // 64 MiB of page cache a connection (SQLite's default is 2 MiB): claim ids and
            // sessions are random keys, so a round's inserts touch pages all over their indexes.
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY")
            }
            database = try DatabasePool(path: path, configuration: configuration)
            checkpointer = WALCheckpointer(queue: try DatabaseQueue(path: path, configuration: configuration))
        } catch {
            throw StoreFailure.unavailable("cannot open the SQLite database \(path): \(error)")
        }
        let (database, checkpointer) = (self.database, self.checkpointer)
        claimIndex = SQLiteClaimIndex(capacity: claimIndexRows, filterKeys: max(1, filterKeys ?? claimIndexRows * 8)) { body in
            try await Self.write(body, on: database, checkpointer: checkpointer)
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
            try SQLiteClaimIndex.recover(db)
        }
    }

    package func schemaVersion() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(version), 0) FROM schema_migrations") ?? 0 }
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
        try await claimIndex.flush()
        await generationsWritten()
        try database.close()
        try checkpointer.queue.close()
    }

    // MARK: -

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await database.read(body) } catch let failure as StoreFailure { throw failure } catch {
            throw StoreFailure.unavailable("SQLite: \(error)")
        }
    }

    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await Self.write(body, on: database, checkpointer: checkpointer)
    }

    private static func write<T: Sendable>(
        _ body: @Sendable @escaping (Database) throws -> T, on database: DatabasePool, checkpointer: WALCheckpointer
    ) async throws -> T {
        let result: T
        do { result = try await database.write(body) } catch let failure as StoreFailure { throw failure } catch {
            throw StoreFailure.unavailable("SQLite: \(error)")
        }
        checkpointer.start()
        return result
    }

    /// Waits until no generation of claim index rows is being written (for tests).
    func generationsWritten() async { await claimIndex.generationsWritten() }
}

/// A connection of its own that copies the write-ahead log into the database file after
/// writes, so commits (which a claim round waits for) do not.
final class WALCheckpointer: Sendable {
    let queue: DatabaseQueue
    private let running = Mutex(false)

    init(queue: DatabaseQueue) { self.queue = queue }

    /// Starts copying the log into the database unless a copy is under way (PASSIVE: it
    /// never blocks readers or the writer).
    func start() {
        guard
            running.withLock({ running in
                defer { running = true }
                return !running
            })
        else { return }
        queue.asyncWriteWithoutTransaction { [self] db in
            _ = try? db.checkpoint(.passive)
            running.withLock { $0 = false }
        }
    }
}
