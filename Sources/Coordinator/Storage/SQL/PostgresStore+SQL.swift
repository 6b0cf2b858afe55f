import Foundation
import PostgresNIO
import Synchronization

/// PostgreSQL's half of the shared statements: `$n` parameters, within the store's time limit.
extension PostgresStore: SQLDatabase {
    package func rows<T: Sendable>(_ statement: SQLStatement, _ row: @escaping @Sendable (any SQLRow) throws -> T) async throws -> [T] {
        let query = Self.query(statement)
        return try await guarded {
            var out: [T] = []
            for try await result in try await self.client.query(query, logger: self.logger) {
                out.append(try row(PostgresSQLRow(row: result.makeRandomAccess())))
            }
            return out
        }
    }

    package func transaction<T: Sendable>(
        _ first: SQLStatement, _ row: @escaping @Sendable (any SQLRow) throws -> T, then: @escaping @Sendable ([T]) -> SQLStatement?
    ) async throws -> [T] {
        let out = Mutex<[T]>([])
        try await transaction { connection in
            var rows: [T] = []
            for try await result in try await connection.query(Self.query(first), logger: self.logger) {
                rows.append(try row(PostgresSQLRow(row: result.makeRandomAccess())))
            }
            if let next = then(rows) { try await connection.query(Self.query(next), logger: self.logger) }
            out.withLock { $0 = rows }
        }
        return out.withLock { $0 }
    }

    private static func query(_ statement: SQLStatement) -> PostgresQuery {
        var binds = PostgresBindings(capacity: statement.values.count)
        for value in statement.values {
            switch value {
            case .text(let text): binds.append(text)
            case .integer(let integer): binds.append(integer)
            case .real(let real): binds.append(real)
            case .boolean(let boolean): binds.append(boolean)
            case .null: binds.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: statement.postgresText, binds: binds)
    }
}

/// A PostgreSQL row as an ``SQLRow``.
struct PostgresSQLRow: SQLRow {
    let row: PostgresRandomAccessRow

    private func decode<T: PostgresDecodable>(_ column: Int, _ type: T.Type) throws -> T {
        do { return try row[column].decode(T.self) } catch {
            throw StoreFailure.corrupt("column \(row[column].columnName) does not hold a \(T.self): \(error)")
        }
    }

    func text(_ column: Int) throws -> String { try decode(column, String.self) }
    func optionalText(_ column: Int) throws -> String? { try decode(column, String?.self) }
    func integer(_ column: Int) throws -> Int64 { try decode(column, Int64.self) }
    func optionalInteger(_ column: Int) throws -> Int64? { try decode(column, Int64?.self) }
    func real(_ column: Int) throws -> Double { try decode(column, Double.self) }
    func optionalReal(_ column: Int) throws -> Double? { try decode(column, Double?.self) }
    func boolean(_ column: Int) throws -> Bool { try decode(column, Bool.self) }
}
