import Foundation
import GRDB

/// SQLite's half of the shared statements: run through GRDB, reading statements beside the
/// writer, every other on the writer.
extension SQLiteStore: SQLDatabase {
    package func rows<T: Sendable>(_ statement: SQLStatement, _ row: @escaping @Sendable (any SQLRow) throws -> T) async throws -> [T] {
        let body: @Sendable (Database) throws -> [T] = { db in
            let arguments = StatementArguments(statement.values.map(\.databaseValue))
            return try Row.fetchAll(db, sql: statement.text, arguments: arguments).map { try row(GRDBRow(row: $0)) }
        }
        return statement.onlyReads ? try await read(body) : try await write(body)
    }

    package func transaction<T: Sendable>(
        _ first: SQLStatement, _ row: @escaping @Sendable (any SQLRow) throws -> T, then: @escaping @Sendable ([T]) -> SQLStatement?
    ) async throws -> [T] {
        try await write { db in
            let rows = try Row.fetchAll(db, sql: first.text, arguments: StatementArguments(first.values.map(\.databaseValue))).map {
                try row(GRDBRow(row: $0))
            }
            if let next = then(rows) { try db.execute(sql: next.text, arguments: StatementArguments(next.values.map(\.databaseValue))) }
            return rows
        }
    }
}

extension SQLValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .text(let text): text.databaseValue
        case .integer(let value): value.databaseValue
        case .real(let value): value.databaseValue
        case .boolean(let value): value.databaseValue
        case .null: .null
        }
    }
}

/// A GRDB row as an ``SQLRow``.
struct GRDBRow: SQLRow {
    let row: Row

    private func value<T: DatabaseValueConvertible>(_ column: Int, _ type: T.Type) throws -> T? {
        let stored: DatabaseValue = row[column]
        if stored.isNull { return nil }
        guard let value = T.fromDatabaseValue(stored) else {
            throw StoreFailure.corrupt("column \(row.columnNames[row.index(row.startIndex, offsetBy: column)]) holds \(stored), not a \(T.self)")
        }
        return value
    }

    private func required<T: DatabaseValueConvertible>(_ column: Int, _ type: T.Type) throws -> T {
        guard let value = try value(column, type) else { throw StoreFailure.corrupt("column \(column) is NULL where a \(T.self) must be") }
        return value
    }

    func text(_ column: Int) throws -> String { try required(column, String.self) }
    func optionalText(_ column: Int) throws -> String? { try value(column, String.self) }
    func integer(_ column: Int) throws -> Int64 { try required(column, Int64.self) }
    func optionalInteger(_ column: Int) throws -> Int64? { try value(column, Int64.self) }
    func real(_ column: Int) throws -> Double { try required(column, Double.self) }
    func optionalReal(_ column: Int) throws -> Double? { try value(column, Double.self) }
    func boolean(_ column: Int) throws -> Bool { try required(column, Bool.self) }
}
