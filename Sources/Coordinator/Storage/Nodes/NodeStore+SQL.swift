import Foundation

/// Nodes and their request nonces, written once for both databases.
extension NodeStore where Self: SQLDatabase {
    package func saveNode(_ node: NodeRecord) async throws {
        try await execute(
            """
            INSERT INTO nodes (\(sql: NodeRecord.columns))
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

    package func node(id: String) async throws -> NodeRecord? {
        try await first("SELECT \(sql: NodeRecord.columns) FROM nodes WHERE id = \(id)", NodeRecord.init(row:))
    }

    package func nodes() async throws -> [NodeRecord] {
        try await rows("SELECT \(sql: NodeRecord.columns) FROM nodes ORDER BY id", NodeRecord.init(row:))
    }

    package func recordHeartbeat(_ beat: Heartbeat) async throws -> Bool {
        try await changedRow(
            """
            UPDATE nodes SET last_heartbeat = \(beat.at), load = \(beat.load), free_cache = \(beat.freeCache), healthy = \(beat.healthy)
            WHERE id = \(beat.node) RETURNING id
            """)
    }

    package func useNonce(node: String, nonce: String, at: Int64) async throws -> Bool {
        try await changedRow("INSERT INTO nonces (node_id, nonce, used_at) VALUES (\(node), \(nonce), \(at)) ON CONFLICT DO NOTHING RETURNING nonce")
    }

    package func pruneNonces(before time: Int64) async throws {
        try await execute("DELETE FROM nonces WHERE used_at < \(time)")
    }
}

extension NodeRecord {
    /// The columns ``init(row:)`` reads, in its order.
    static let columns = """
        id, public_key, class, cores, ram_gb, mbps, gpu, disk_gb, ssd, latitude, longitude, url, registered_at, last_heartbeat, \
        load, free_cache, healthy, transcodes
        """

    init(row: any SQLRow) throws {
        self.init(
            id: try row.text(0), publicKey: try row.text(1), deviceClass: try row.text(2), cores: try row.int(3), ramGB: try row.real(4),
            mbps: try row.real(5), gpu: try row.boolean(6), diskGB: try row.real(7), ssd: try row.boolean(8), latitude: try row.real(9),
            longitude: try row.real(10), url: try row.text(11), registeredAt: try row.integer(12), lastHeartbeat: try row.integer(13),
            load: try row.real(14), freeCache: try row.integer(15), healthy: try row.boolean(16), transcodes: try row.boolean(17))
    }
}

/// The staking ledger's events, written once for both databases.
extension LedgerStore where Self: SQLDatabase {
    package func append(_ event: LedgerEvent) async throws -> LedgerEvent {
        var stored = event
        stored.sequence = try await first(
            """
            INSERT INTO ledger (node_id, kind, amount, reason, evidence, at)
            VALUES (\(event.node), \(event.kind.rawValue), \(event.amount), \(event.reason), \(event.evidence), \(event.at)) RETURNING seq
            """
        ) { try $0.integer(0) }
        return stored
    }

    package func ledger(node: String?) async throws -> [LedgerEvent] {
        let columns = "seq, node_id, kind, amount, reason, evidence, at"
        guard let node else { return try await rows("SELECT \(sql: columns) FROM ledger ORDER BY seq", LedgerEvent.init(row:)) }
        return try await rows("SELECT \(sql: columns) FROM ledger WHERE node_id = \(node) ORDER BY seq", LedgerEvent.init(row:))
    }
}

extension LedgerEvent {
    init(row: any SQLRow) throws {
        let sequence = try row.integer(0)
        guard let kind = Kind(rawValue: try row.text(2)) else { throw StoreFailure.corrupt("ledger entry \(sequence) has an unknown kind") }
        self.init(
            sequence: sequence, node: try row.text(1), kind: kind, amount: try row.integer(3), reason: try row.text(4),
            evidence: try row.optionalText(5), at: try row.integer(6))
    }
}
