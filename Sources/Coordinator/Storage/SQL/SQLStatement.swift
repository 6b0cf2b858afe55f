import Foundation

/// A value bound to a statement.
package enum SQLValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case real(Double)
    case boolean(Bool)
    case null
}

/// What can be bound to a statement as it is written (`"... WHERE id = \(id)"`).
package protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension String: SQLBindable { package var sqlValue: SQLValue { .text(self) } }
extension Int64: SQLBindable { package var sqlValue: SQLValue { .integer(self) } }
extension Int: SQLBindable { package var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Double: SQLBindable { package var sqlValue: SQLValue { .real(self) } }
extension Bool: SQLBindable { package var sqlValue: SQLValue { .boolean(self) } }
extension Optional: SQLBindable where Wrapped: SQLBindable { package var sqlValue: SQLValue { map(\.sqlValue) ?? .null } }

/// One statement, written once for SQLite and PostgreSQL the way ``Schema`` writes the DDL
/// once: SQL both accept (`ON CONFLICT`, `RETURNING`, which SQLite has since 3.35), each
/// interpolated value a parameter, never text in the SQL (`?` for SQLite, `$1`, `$2`, … for
/// PostgreSQL). `\(sql: fragment)` inserts trusted SQL such as a column list.
package struct SQLStatement: Sendable, ExpressibleByStringInterpolation {
    /// The text, with `?` for each value.
    package private(set) var text: String
    package private(set) var values: [SQLValue]

    package struct StringInterpolation: StringInterpolationProtocol {
        var text = ""
        var values: [SQLValue] = []

        package init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity + 2 * interpolationCount) }
        package mutating func appendLiteral(_ literal: String) { text += literal }
        package mutating func appendInterpolation(_ value: some SQLBindable) {
            text += "?"
            values.append(value.sqlValue)
        }
        package mutating func appendInterpolation(sql fragment: String) { text += fragment }
    }

    package init(stringLiteral: String) { (text, values) = (stringLiteral, []) }
    package init(stringInterpolation: StringInterpolation) { (text, values) = (stringInterpolation.text, stringInterpolation.values) }

    /// The two statements as one text (for a statement built in parts, such as many rows'
    /// `VALUES`).
    package static func + (first: SQLStatement, second: SQLStatement) -> SQLStatement {
        var joined = first
        joined.text += second.text
        joined.values += second.values
        return joined
    }

    /// The statement's text with one `?` per value of `values`, comma-separated (for `IN (...)`).
    package static func list(_ values: [some SQLBindable]) -> SQLStatement {
        var statement: SQLStatement = ""
        for (index, value) in values.enumerated() { statement = statement + "\(sql: index == 0 ? "" : ", ")\(value)" }
        return statement
    }

    /// The text for PostgreSQL: the n-th `?` becomes `$n` (statements here have no `?` of
    /// their own).
    var postgresText: String {
        var out = ""
        out.reserveCapacity(text.utf8.count + values.count)
        var index = 0
        for character in text {
            if character == "?" {
                index += 1
                out += "$\(index)"
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// Whether the statement only reads (it may run beside writers).
    var onlyReads: Bool { text.drop { $0 == " " || $0 == "\n" }.prefix(6).uppercased() == "SELECT" }
}

/// One row of a result, read by column position; a value of the wrong type or a NULL where
/// none may be is ``StoreFailure/corrupt(_:)``.
package protocol SQLRow {
    func text(_ column: Int) throws -> String
    func optionalText(_ column: Int) throws -> String?
    func integer(_ column: Int) throws -> Int64
    func optionalInteger(_ column: Int) throws -> Int64?
    func real(_ column: Int) throws -> Double
    func optionalReal(_ column: Int) throws -> Double?
    func boolean(_ column: Int) throws -> Bool
}

extension SQLRow {
    package func int(_ column: Int) throws -> Int { Int(try integer(column)) }
}

/// What the coordinator's stores need of a database: ``SQLiteStore`` and ``PostgresStore`` each
/// run statements; every aggregate's queries and column maps (`NodeStore+SQL` and its
/// neighbours) are written once over this.
package protocol SQLDatabase: Sendable {
    /// Runs `statement`, reading each row it returns (`RETURNING` included) with `row`.
    /// - Throws: ``StoreFailure``.
    func rows<T: Sendable>(_ statement: SQLStatement, _ row: @escaping @Sendable (any SQLRow) throws -> T) async throws -> [T]

    /// Runs `first`, reading the rows it returns with `row`, then, in the same transaction, the
    /// statement `then` makes of them (nil: nothing more): both or neither.
    /// - Throws: ``StoreFailure``.
    func transaction<T: Sendable>(
        _ first: SQLStatement, _ row: @escaping @Sendable (any SQLRow) throws -> T, then: @escaping @Sendable ([T]) -> SQLStatement?
    ) async throws -> [T]
}

extension SQLDatabase {
    /// Runs a statement that returns nothing.
    package func execute(_ statement: SQLStatement) async throws { _ = try await rows(statement) { _ in 0 } }

    /// The first row's value, if any.
    package func first<T: Sendable>(_ statement: SQLStatement, _ row: @escaping @Sendable (any SQLRow) throws -> T) async throws -> T? {
        try await rows(statement, row).first
    }

    /// Whether a statement with `RETURNING` changed a row.
    package func changedRow(_ statement: SQLStatement) async throws -> Bool { try await !rows(statement) { _ in 0 }.isEmpty }
}
