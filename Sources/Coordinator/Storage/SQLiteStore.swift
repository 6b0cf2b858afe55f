import Foundation
import GRDB

/// ``CoordinatorStore`` in one SQLite file (GRDB), in WAL mode: the default for a single
/// coordinator.
package final class SQLiteStore: CoordinatorStore {
    private let database: DatabasePool

    /// Opens (creating) the file at `path`.
    /// - Throws: ``StoreFailure`` when the file cannot be opened as SQLite.
    package init(path: String) throws {
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            database = try DatabasePool(path: path, configuration: configuration)
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
            let rows = try node.map { try Row.fetchAll(db, sql: "SELECT * FROM ledger WHERE node_id = ? ORDER BY seq", arguments: [$0]) }
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

    package func claims(ids: [String]) async throws -> [ClaimRecord] { try await claimContext(ids: ids, sessions: []).claims }

    package func claimContext(ids: [String], sessions: [String]) async throws -> (claims: [ClaimRecord], sessions: [SessionTotal]) {
        guard !ids.isEmpty || !sessions.isEmpty else { return ([], []) }
        return try await read { db in
            var claims: [ClaimRecord] = []
            var totals: [SessionTotal] = []
            // SQLite allows 32,766 parameters a statement: look up in slices.
            for slice in stride(from: 0, to: ids.count, by: 10_000).map({ Array(ids[$0..<min($0 + 10_000, ids.count)]) }) {
                claims += try Row.fetchAll(db, sql: "SELECT * FROM claims WHERE id IN (\(Self.placeholders(slice.count)))", arguments: StatementArguments(slice))
                    .map(Self.claim)
            }
            for slice in stride(from: 0, to: sessions.count, by: 10_000).map({ Array(sessions[$0..<min($0 + 10_000, sessions.count)]) }) {
                totals += try Row.fetchAll(db, sql: "SELECT * FROM sessions WHERE id IN (\(Self.placeholders(slice.count)))", arguments: StatementArguments(slice))
                    .map(Self.total)
            }
            return (claims, totals)
        }
    }

    package func claims(node: String) async throws -> [ClaimRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM claims WHERE node_id = ? ORDER BY accepted_at, id", arguments: [node]).map(Self.claim)
        }
    }

    package func sessionTotals(ids: [String]) async throws -> [SessionTotal] { try await claimContext(ids: [], sessions: ids).sessions }

    package func saveClaims(_ claims: [ClaimRecord], sessions: [SessionTotal]) async throws {
        try await write { db in
            for claim in claims {
                try db.execute(
                    sql: "INSERT INTO claims (id, node_id, content_id, session_id, bytes, accepted_at, receipt) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    arguments: [claim.id, claim.node, claim.content, claim.session, claim.bytes, claim.acceptedAt, claim.receipt])
                // Throwing rolls the whole transaction back.
                guard db.changesCount == 1 else { throw StoreFailure.duplicate("claim \(claim.id) is already stored") }
            }
            for session in sessions {
                try db.execute(
                    sql: """
                        INSERT INTO sessions (id, content_id, issued_at, bytes, edges) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes, edges = excluded.edges
                        """,
                    arguments: [session.id, session.content, session.issuedAt, session.bytes, session.edges.joined(separator: ",")])
            }
        }
    }

    package func addChallenge(_ challenge: ChallengeRecord) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO challenges (id, node_id, content_id, segment, chunk, issued_at, deadline, outcome, answered_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    challenge.id, challenge.node, challenge.content, challenge.segment, challenge.chunk, challenge.issuedAt, challenge.deadline,
                    challenge.outcome?.rawValue, challenge.answeredAt,
                ])
        }
    }

    package func challenge(id: String) async throws -> ChallengeRecord? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM challenges WHERE id = ?", arguments: [id]).map(Self.challenge) }
    }

    package func openChallenges(node: String) async throws -> [ChallengeRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM challenges WHERE node_id = ? AND outcome IS NULL ORDER BY issued_at, id", arguments: [node])
                .map(Self.challenge)
        }
    }

    package func settleChallenge(id: String, outcome: ChallengeRecord.Outcome, at: Int64) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "UPDATE challenges SET outcome = ?, answered_at = ? WHERE id = ? AND outcome IS NULL", arguments: [outcome.rawValue, at, id])
            return db.changesCount == 1
        }
    }

    package func expireChallenges(deadlineBefore time: Int64) async throws -> [ChallengeRecord] {
        try await write { db in
            let expired = try Row.fetchAll(db, sql: "SELECT * FROM challenges WHERE outcome IS NULL AND deadline < ? ORDER BY issued_at, id", arguments: [time])
                .map(Self.challenge)
            try db.execute(sql: "UPDATE challenges SET outcome = 'offline' WHERE outcome IS NULL AND deadline < ?", arguments: [time])
            return expired.map {
                var settled = $0
                settled.outcome = .offline
                return settled
            }
        }
    }

    package func settledChallenges(node: String, since: Int64) async throws -> [ChallengeRecord] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM challenges WHERE node_id = ? AND issued_at >= ? AND outcome IS NOT NULL ORDER BY issued_at, id",
                arguments: [node, since]
            ).map(Self.challenge)
        }
    }

    package func addRevenue(_ entry: RevenueEntry) async throws -> RevenueEntry {
        try await write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM epochs WHERE epoch = ?", arguments: [entry.epoch]) == 0 else {
                throw StoreFailure.duplicate("epoch \(entry.epoch) is settled; its revenue can no longer change")
            }
            try db.execute(
                sql: "INSERT INTO revenue (epoch, source, amount, reason, at) VALUES (?, ?, ?, ?, ?)",
                arguments: [entry.epoch, entry.source.rawValue, entry.amount, entry.reason, entry.at])
            var stored = entry
            stored.sequence = db.lastInsertedRowID
            return stored
        }
    }

    package func revenue(epoch: Int64) async throws -> [RevenueEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM revenue WHERE epoch = ? ORDER BY seq", arguments: [epoch]).compactMap { row in
                RevenueEntry.Source(rawValue: row["source"]).map {
                    RevenueEntry(sequence: row["seq"], epoch: row["epoch"], source: $0, amount: row["amount"], reason: row["reason"], at: row["at"])
                }
            }
        }
    }

    package func firstRevenueEpoch() async throws -> Int64? {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT MIN(epoch) FROM revenue") }
    }

    package func claims(acceptedFrom from: Int64, to: Int64) async throws -> [ClaimRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM claims WHERE accepted_at >= ? AND accepted_at < ? ORDER BY accepted_at, id", arguments: [from, to])
                .map(Self.claim)
        }
    }

    package func saveEpoch(_ epoch: EpochRecord) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO epochs (epoch, pool, carry, settled_at, report) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [epoch.epoch, epoch.pool, epoch.carry, epoch.settledAt, epoch.report])
            guard db.changesCount == 1 else { throw StoreFailure.duplicate("epoch \(epoch.epoch) is settled already") }
        }
    }

    package func epoch(_ number: Int64) async throws -> EpochRecord? {
        try await read { db in try Row.fetchOne(db, sql: "SELECT * FROM epochs WHERE epoch = ?", arguments: [number]).map(Self.epoch) }
    }

    package func epochs(limit: Int) async throws -> [EpochRecord] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM epochs ORDER BY epoch DESC LIMIT ?", arguments: [limit]).map(Self.epoch) }
    }

    private static func epoch(_ row: Row) -> EpochRecord {
        EpochRecord(epoch: row["epoch"], pool: row["pool"], carry: row["carry"], settledAt: row["settled_at"], report: row["report"])
    }

    private static func challenge(_ row: Row) -> ChallengeRecord {
        ChallengeRecord(
            id: row["id"], node: row["node_id"], content: row["content_id"], segment: row["segment"], chunk: row["chunk"],
            issuedAt: row["issued_at"], deadline: row["deadline"], outcome: (row["outcome"] as String?).flatMap(ChallengeRecord.Outcome.init),
            answeredAt: row["answered_at"])
    }

    private static func placeholders(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ",") }

    private static func total(_ row: Row) -> SessionTotal {
        SessionTotal(
            id: row["id"], content: row["content_id"], issuedAt: row["issued_at"], bytes: row["bytes"],
            edges: (row["edges"] as String).split(separator: ",").map(String.init))
    }

    private static func claim(_ row: Row) -> ClaimRecord {
        ClaimRecord(
            id: row["id"], node: row["node_id"], content: row["content_id"], session: row["session_id"], bytes: row["bytes"],
            acceptedAt: row["accepted_at"], receipt: row["receipt"])
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

    package func close() async throws { try database.close() }

    // MARK: -

    private func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await database.read(body) } catch let failure as StoreFailure { throw failure } catch {
            throw StoreFailure.unavailable("SQLite: \(error)")
        }
    }

    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await database.write(body) } catch let failure as StoreFailure { throw failure } catch {
            throw StoreFailure.unavailable("SQLite: \(error)")
        }
    }

    private static func node(_ row: Row) -> NodeRecord {
        NodeRecord(
            id: row["id"], publicKey: row["public_key"], deviceClass: row["class"], cores: row["cores"], ramGB: row["ram_gb"],
            mbps: row["mbps"], gpu: row["gpu"], diskGB: row["disk_gb"], ssd: row["ssd"], latitude: row["latitude"],
            longitude: row["longitude"], url: row["url"], registeredAt: row["registered_at"], lastHeartbeat: row["last_heartbeat"],
            load: row["load"], freeCache: row["free_cache"], healthy: row["healthy"], transcodes: row["transcodes"])
    }

    private static func task(_ row: Row) throws -> TaskRecord {
        guard let kind = TaskRecord.Kind(rawValue: row["kind"]) else {
            throw StoreFailure.corrupt("task \(row["seq"] as Int64? ?? -1) has an unknown kind")
        }
        return TaskRecord(
            sequence: row["seq"], node: row["node_id"], content: row["content_id"], kind: kind, createdAt: row["created_at"],
            doneAt: row["done_at"])
    }

    private static func event(_ row: Row) throws -> LedgerEvent {
        guard let kind = LedgerEvent.Kind(rawValue: row["kind"]) else {
            throw StoreFailure.corrupt("ledger entry \(row["seq"] as Int64? ?? -1) has an unknown kind")
        }
        return LedgerEvent(
            sequence: row["seq"], node: row["node_id"], kind: kind, amount: row["amount"], reason: row["reason"],
            evidence: row["evidence"], at: row["at"])
    }
}
