import Foundation
import Logging
import PostgresNIO

/// ``CoordinatorStore`` on a PostgreSQL server (postgres-nio), so several coordinators can
/// share one database. Run ``run()`` (the connection pool) for as long as the store is used.
package final class PostgresStore: CoordinatorStore {
    let client: PostgresClient
    let logger: Logger
    let runner: Task<Void, Never>
    let timeout: Duration
    let address: String

    /// Connects lazily to `url` (`postgres://user[:password]@host[:port]/database`).
    /// - Parameter timeout: the longest any one operation may take (connecting included)
    ///   before it fails as unavailable.
    /// - Throws: ``StoreFailure`` when the URL is not one.
    package init(url: String, timeout: Duration = .seconds(10), logger: Logger = Logger(label: "depin.postgres")) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user
        else {
            throw StoreFailure.unavailable("'\(url)' is not a postgres://user[:password]@host[:port]/database URL")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = timeout
        self.timeout = timeout
        address = "\(host):\(components.port ?? 5432)"
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        // The pool's run loop lives as long as the store; close() ends it.
        runner = Task { await client.run() }
    }

    package func migrate() async throws {
        try await transaction { connection in
            // One migrator at a time, however many coordinators start together.
            try await connection.query("SELECT pg_advisory_xact_lock(727274)", logger: self.logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", logger: self.logger)
            var applied = 0
            for try await version in try await connection.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", logger: self.logger)
                .decode(Int.self)
            {
                applied = version
            }
            for migration in Schema.migrations where migration.version > applied {
                for statement in Schema.statements(migration.statements, for: .postgres) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                let now = Int64(Date().timeIntervalSince1970)
                try await connection.query(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (\(migration.version), \(now))", logger: self.logger)
            }
        }
    }

    package func schemaVersion() async throws -> Int {
        try await first(Int.self, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations") ?? 0
    }

    package func saveNode(_ node: NodeRecord) async throws {
        try await run(
            """
            INSERT INTO nodes (id, public_key, class, cores, ram_gb, mbps, gpu, disk_gb, ssd, latitude, longitude, url,
                               registered_at, last_heartbeat, load, free_cache, healthy, transcodes)
            VALUES (\(node.id), \(node.publicKey), \(node.deviceClass), \(node.cores), \(node.ramGB), \(node.mbps), \(node.gpu),
                    \(node.diskGB), \(node.ssd), \(node.latitude), \(node.longitude), \(node.url), \(node.registeredAt),
                    \(node.lastHeartbeat), \(node.load), \(node.freeCache), \(node.healthy), \(node.transcodes))
            ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key, class = excluded.class, cores = excluded.cores,
                ram_gb = excluded.ram_gb, mbps = excluded.mbps, gpu = excluded.gpu, disk_gb = excluded.disk_gb, ssd = excluded.ssd,
                latitude = excluded.latitude, longitude = excluded.longitude, url = excluded.url,
                registered_at = excluded.registered_at, last_heartbeat = excluded.last_heartbeat, load = excluded.load,
                free_cache = excluded.free_cache, healthy = excluded.healthy, transcodes = excluded.transcodes
            """)
    }

    private typealias NodeColumns = (
        String, String, String, Int, Double, Double, Bool, Double, Bool, Double, Double, String, Int64, Int64, Double, Int64, Bool, Bool
    )
    static let nodeColumns = """
        SELECT id, public_key, class, cores, ram_gb, mbps, gpu, disk_gb, ssd, latitude, longitude, url, registered_at,
               last_heartbeat, load, free_cache, healthy, transcodes FROM nodes
        """

    package func node(id: String) async throws -> NodeRecord? {
        try await nodes(PostgresQuery(unsafeSQL: Self.nodeColumns + " WHERE id = $1", binds: try Self.binds(id))).first
    }

    package func nodes() async throws -> [NodeRecord] {
        try await nodes(PostgresQuery(unsafeSQL: Self.nodeColumns + " ORDER BY id"))
    }

    func nodes(_ query: PostgresQuery) async throws -> [NodeRecord] {
        try await guarded {
            var out: [NodeRecord] = []
            for try await c in try await self.client.query(query, logger: self.logger).decode(NodeColumns.self) {
                out.append(
                    NodeRecord(
                        id: c.0, publicKey: c.1, deviceClass: c.2, cores: c.3, ramGB: c.4, mbps: c.5, gpu: c.6, diskGB: c.7, ssd: c.8,
                        latitude: c.9, longitude: c.10, url: c.11, registeredAt: c.12, lastHeartbeat: c.13, load: c.14,
                        freeCache: c.15, healthy: c.16, transcodes: c.17))
            }
            return out
        }
    }

    package func recordHeartbeat(_ beat: Heartbeat) async throws -> Bool {
        try await first(
            String.self,
            """
            UPDATE nodes SET last_heartbeat = \(beat.at), load = \(beat.load), free_cache = \(beat.freeCache), healthy = \(beat.healthy)
            WHERE id = \(beat.node) RETURNING id
            """) != nil
    }

    package func useNonce(node: String, nonce: String, at: Int64) async throws -> Bool {
        try await first(
            String.self, "INSERT INTO nonces (node_id, nonce, used_at) VALUES (\(node), \(nonce), \(at)) ON CONFLICT DO NOTHING RETURNING nonce")
            != nil
    }

    package func pruneNonces(before time: Int64) async throws {
        try await run("DELETE FROM nonces WHERE used_at < \(time)")
    }

    package func append(_ event: LedgerEvent) async throws -> LedgerEvent {
        let sequence = try await first(
            Int64.self,
            """
            INSERT INTO ledger (node_id, kind, amount, reason, evidence, at)
            VALUES (\(event.node), \(event.kind.rawValue), \(event.amount), \(event.reason), \(event.evidence), \(event.at)) RETURNING seq
            """)
        var stored = event
        stored.sequence = sequence
        return stored
    }

    package func ledger(node: String?) async throws -> [LedgerEvent] {
        let query: PostgresQuery =
            node.map { "SELECT seq, node_id, kind, amount, reason, evidence, at FROM ledger WHERE node_id = \($0) ORDER BY seq" }
            ?? "SELECT seq, node_id, kind, amount, reason, evidence, at FROM ledger ORDER BY seq"
        return try await guarded {
            var out: [LedgerEvent] = []
            for try await (seq, node, kind, amount, reason, evidence, at) in try await self.client.query(query, logger: self.logger)
                .decode((Int64, String, String, Int64, String, String?, Int64).self)
            {
                guard let kind = LedgerEvent.Kind(rawValue: kind) else { throw StoreFailure.corrupt("ledger entry \(seq) has an unknown kind") }
                out.append(LedgerEvent(sequence: seq, node: node, kind: kind, amount: amount, reason: reason, evidence: evidence, at: at))
            }
            return out
        }
    }

    package func saveContent(_ content: ContentRecord) async throws {
        let inserted = try await first(
            String.self,
            """
            INSERT INTO contents (id, manifest, sealed_key, created_at)
            VALUES (\(content.id), \(content.manifest), \(content.sealedKey), \(content.createdAt)) ON CONFLICT DO NOTHING RETURNING id
            """)
        guard inserted != nil else { throw StoreFailure.duplicate("content \(content.id) is already registered") }
    }

    package func content(id: String) async throws -> ContentRecord? {
        try await guarded {
            for try await (id, manifest, key, created) in try await self.client.query(
                "SELECT id, manifest, sealed_key, created_at FROM contents WHERE id = \(id)", logger: self.logger
            ).decode((String, String, String, Int64).self) {
                return ContentRecord(id: id, manifest: manifest, sealedKey: key, createdAt: created)
            }
            return nil
        }
    }

    package func contentIDs() async throws -> [String] {
        try await guarded {
            var out: [String] = []
            for try await id in try await self.client.query("SELECT id FROM contents ORDER BY id", logger: self.logger).decode(String.self) {
                out.append(id)
            }
            return out
        }
    }

    package func addTask(_ task: TaskRecord) async throws -> TaskRecord? {
        let sequence = try await first(
            Int64.self,
            """
            INSERT INTO tasks (node_id, content_id, kind, created_at, done_at)
            VALUES (\(task.node), \(task.content), \(task.kind.rawValue), \(task.createdAt), \(task.doneAt)) ON CONFLICT DO NOTHING RETURNING seq
            """)
        guard let sequence else { return nil }
        var stored = task
        stored.sequence = sequence
        return stored
    }

    package func tasks(node: String, after: Int64) async throws -> [TaskRecord] {
        try await tasks("SELECT seq, node_id, content_id, kind, created_at, done_at FROM tasks WHERE node_id = \(node) AND seq > \(after) ORDER BY seq")
    }

    package func tasks(content: String) async throws -> [TaskRecord] {
        try await tasks("SELECT seq, node_id, content_id, kind, created_at, done_at FROM tasks WHERE content_id = \(content) ORDER BY seq")
    }

    func tasks(_ query: PostgresQuery) async throws -> [TaskRecord] {
        try await guarded {
            var out: [TaskRecord] = []
            for try await (seq, node, content, kind, created, done) in try await self.client.query(query, logger: self.logger)
                .decode((Int64, String, String, String, Int64, Int64?).self)
            {
                guard let kind = TaskRecord.Kind(rawValue: kind) else { throw StoreFailure.corrupt("task \(seq) has an unknown kind") }
                out.append(TaskRecord(sequence: seq, node: node, content: content, kind: kind, createdAt: created, doneAt: done))
            }
            return out
        }
    }

    package func completeTask(node: String, content: String, kind: TaskRecord.Kind, at: Int64) async throws -> Bool {
        try await first(
            Int64.self,
            """
            UPDATE tasks SET done_at = COALESCE(done_at, \(at)) WHERE node_id = \(node) AND content_id = \(content) AND kind = \(kind.rawValue)
            RETURNING seq
            """) != nil
    }

    package func close() async throws {
        runner.cancel()
        _ = await runner.value
    }

    // MARK: -

    static func binds(_ value: String) throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value)
        return binds
    }

    func run(_ query: PostgresQuery) async throws {
        try await guarded { _ = try await self.client.query(query, logger: self.logger) }
    }

    func first<T: PostgresDecodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T? {
        try await guarded {
            for try await value in try await self.client.query(query, logger: self.logger).decode(T.self) { return value }
            return nil
        }
    }

    func transaction(_ body: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws {
        try await guarded { try await self.client.withTransaction(logger: self.logger) { try await body($0) } }
    }

    /// Runs `body` with the store's time limit, mapping every failure to ``StoreFailure``.
    func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = self.timeout
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let value = try await group.next()! else {
                    throw StoreFailure.unavailable("PostgreSQL at \(self.address) did not answer within \(timeout)")
                }
                return value
            }
        } catch let failure as StoreFailure {
            throw failure
        } catch let error as PostgresTransactionError where error.closureError is StoreFailure && error.rollbackError == nil {
            // The transaction refused itself (a duplicate, say) and rolled back: say why.
            throw error.closureError as! StoreFailure
        } catch let error as PSQLError {
            throw StoreFailure.unavailable("PostgreSQL: \(error.serverInfo?[.message] ?? String(reflecting: error.code))")
        } catch {
            throw StoreFailure.unavailable("PostgreSQL: \(error)")
        }
    }
}
