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


    package func close() async throws {
        runner.cancel()
        _ = await runner.value
    }

    // MARK: -

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
