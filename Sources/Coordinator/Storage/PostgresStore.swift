import Foundation
import Logging
import PostgresNIO

/// ``CoordinatorStore`` on a PostgreSQL server (postgres-nio), so several coordinators can
/// share one database. Run ``run()`` (the connection pool) for as long as the store is used.
package final class PostgresStore: CoordinatorStore {
    private let client: PostgresClient
    private let logger: Logger
    private let runner: Task<Void, Never>
    private let timeout: Duration
    private let address: String

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
    private static let nodeColumns = """
        SELECT id, public_key, class, cores, ram_gb, mbps, gpu, disk_gb, ssd, latitude, longitude, url, registered_at,
               last_heartbeat, load, free_cache, healthy, transcodes FROM nodes
        """

    package func node(id: String) async throws -> NodeRecord? {
        try await nodes(PostgresQuery(unsafeSQL: Self.nodeColumns + " WHERE id = $1", binds: try Self.binds(id))).first
    }

    package func nodes() async throws -> [NodeRecord] {
        try await nodes(PostgresQuery(unsafeSQL: Self.nodeColumns + " ORDER BY id"))
    }

    private func nodes(_ query: PostgresQuery) async throws -> [NodeRecord] {
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

    private func tasks(_ query: PostgresQuery) async throws -> [TaskRecord] {
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

    package func claims(ids: [String]) async throws -> [ClaimRecord] {
        guard !ids.isEmpty else { return [] }
        return try await claims("SELECT id, node_id, content_id, session_id, bytes, accepted_at, receipt FROM claims WHERE id = ANY(\(ids))")
    }

    package func claimContext(ids: [String], sessions: [String]) async throws -> (claims: [ClaimRecord], sessions: [SessionTotal]) {
        (try await claims(ids: ids), try await sessionTotals(ids: sessions))
    }

    package func claims(node: String) async throws -> [ClaimRecord] {
        try await claims("SELECT id, node_id, content_id, session_id, bytes, accepted_at, receipt FROM claims WHERE node_id = \(node) ORDER BY accepted_at, id")
    }

    private func claims(_ query: PostgresQuery) async throws -> [ClaimRecord] {
        try await guarded {
            var out: [ClaimRecord] = []
            for try await (id, node, content, session, bytes, at, receipt) in try await self.client.query(query, logger: self.logger)
                .decode((String, String, String, String, Int64, Int64, String).self)
            {
                out.append(ClaimRecord(id: id, node: node, content: content, session: session, bytes: bytes, acceptedAt: at, receipt: receipt))
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

    package func saveClaims(_ claims: [ClaimRecord], sessions: [SessionTotal]) async throws {
        try await transaction { connection in
            for claim in claims {
                var inserted = false
                for try await _ in try await connection.query(
                    """
                    INSERT INTO claims (id, node_id, content_id, session_id, bytes, accepted_at, receipt)
                    VALUES (\(claim.id), \(claim.node), \(claim.content), \(claim.session), \(claim.bytes), \(claim.acceptedAt), \(claim.receipt))
                    ON CONFLICT DO NOTHING RETURNING id
                    """, logger: self.logger
                ).decode(String.self) {
                    inserted = true
                }
                // Throwing rolls the whole transaction back.
                guard inserted else { throw StoreFailure.duplicate("claim \(claim.id) is already stored") }
            }
            for session in sessions {
                let edges = session.edges.joined(separator: ",")
                try await connection.query(
                    """
                    INSERT INTO sessions (id, content_id, issued_at, bytes, edges) VALUES (\(session.id), \(session.content), \(session.issuedAt), \(session.bytes), \(edges))
                    ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes, edges = excluded.edges
                    """, logger: self.logger)
            }
        }
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

    private static let challengeColumns = "SELECT id, node_id, content_id, segment, chunk, issued_at, deadline, outcome, answered_at FROM challenges"

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
            "SELECT id, node_id, content_id, session_id, bytes, accepted_at, receipt FROM claims WHERE accepted_at >= \(from) AND accepted_at < \(to) ORDER BY accepted_at, id")
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

    private func epochs(_ query: PostgresQuery) async throws -> [EpochRecord] {
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

    private func challenges(_ query: PostgresQuery) async throws -> [ChallengeRecord] {
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

    package func close() async throws {
        runner.cancel()
        _ = await runner.value
    }

    // MARK: -

    private static func binds(_ value: String) throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value)
        return binds
    }

    private func run(_ query: PostgresQuery) async throws {
        try await guarded { _ = try await self.client.query(query, logger: self.logger) }
    }

    private func first<T: PostgresDecodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T? {
        try await guarded {
            for try await value in try await self.client.query(query, logger: self.logger).decode(T.self) { return value }
            return nil
        }
    }

    private func transaction(_ body: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws {
        try await guarded { try await self.client.withTransaction(logger: self.logger) { try await body($0) } }
    }

    /// Runs `body` with the store's time limit, mapping every failure to ``StoreFailure``.
    private func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
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
