import Foundation

/// Titles, written once for both databases.
extension CatalogStore where Self: SQLDatabase {
    package func saveContent(_ content: ContentRecord) async throws {
        let inserted = try await changedRow(
            """
            INSERT INTO contents (id, manifest, sealed_key, created_at)
            VALUES (\(content.id), \(content.manifest), \(content.sealedKey), \(content.createdAt)) ON CONFLICT DO NOTHING RETURNING id
            """)
        guard inserted else { throw StoreFailure.duplicate("content \(content.id) is already registered") }
    }

    package func content(id: String) async throws -> ContentRecord? {
        try await first("SELECT id, manifest, sealed_key, created_at FROM contents WHERE id = \(id)") {
            ContentRecord(id: try $0.text(0), manifest: try $0.text(1), sealedKey: try $0.text(2), createdAt: try $0.integer(3))
        }
    }

    package func contentIDs() async throws -> [String] {
        try await rows("SELECT id FROM contents ORDER BY id") { try $0.text(0) }
    }
}

/// Hosting, delivery and transcoding tasks, written once for both databases.
extension TaskStore where Self: SQLDatabase {
    package func addTask(_ task: TaskRecord) async throws -> TaskRecord? {
        let sequence = try await first(
            """
            INSERT INTO tasks (node_id, content_id, kind, created_at, done_at)
            VALUES (\(task.node), \(task.content), \(task.kind.rawValue), \(task.createdAt), \(task.doneAt)) ON CONFLICT DO NOTHING RETURNING seq
            """
        ) { try $0.integer(0) }
        guard let sequence else { return nil }
        var stored = task
        stored.sequence = sequence
        return stored
    }

    package func tasks(node: String, after: Int64) async throws -> [TaskRecord] {
        try await rows("SELECT \(sql: TaskRecord.columns) FROM tasks WHERE node_id = \(node) AND seq > \(after) ORDER BY seq", TaskRecord.init(row:))
    }

    package func tasks(content: String) async throws -> [TaskRecord] {
        try await rows("SELECT \(sql: TaskRecord.columns) FROM tasks WHERE content_id = \(content) ORDER BY seq", TaskRecord.init(row:))
    }

    package func completeTask(node: String, content: String, kind: TaskRecord.Kind, at: Int64) async throws -> Bool {
        try await changedRow(
            """
            UPDATE tasks SET done_at = COALESCE(done_at, \(at)) WHERE node_id = \(node) AND content_id = \(content) AND kind = \(kind.rawValue)
            RETURNING seq
            """)
    }
}

extension TaskRecord {
    static let columns = "seq, node_id, content_id, kind, created_at, done_at"

    init(row: any SQLRow) throws {
        let sequence = try row.integer(0)
        guard let kind = Kind(rawValue: try row.text(3)) else { throw StoreFailure.corrupt("task \(sequence) has an unknown kind") }
        self.init(
            sequence: sequence, node: try row.text(1), content: try row.text(2), kind: kind, createdAt: try row.integer(4),
            doneAt: try row.optionalInteger(5))
    }
}
