import GRDB
import GRDBSQLite

/// Rows written through SQLite's C API on a statement GRDB prepared and caches: for the claim
/// path, which writes thousands of rows a round, where building GRDB's boxed arguments per row
/// cost more than SQLite's own work.
struct SQLiteRows {
    let database: Database
    let statement: Statement

    init(_ database: Database, sql: String) throws {
        self.database = database
        statement = try database.cachedStatement(sql: sql)
    }

    /// One value per `?`, in order.
    enum Value {
        case text(String)
        case integer(Int64)
        case null
    }

    /// Binds `values`, runs the statement, and answers how many rows it changed.
    /// - Throws: ``StoreFailure`` with SQLite's message when the statement fails.
    @discardableResult
    func run(_ values: Value...) throws -> Int {
        let raw = statement.sqliteStatement
        sqlite3_reset(raw)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .text(let text):
                var text = text
                text.withUTF8 { bytes in
                    _ = sqlite3_bind_text(raw, index, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(bytes.count), Self.transient)
                }
            case .integer(let number): sqlite3_bind_int64(raw, index, number)
            case .null: sqlite3_bind_null(raw, index)
            }
        }
        let code = sqlite3_step(raw)
        sqlite3_reset(raw)
        guard code == SQLITE_DONE else {
            throw StoreFailure.unavailable("SQLite: \(String(cString: sqlite3_errmsg(database.sqliteConnection)))")
        }
        return Int(sqlite3_changes(database.sqliteConnection))
    }

    /// SQLite's `SQLITE_TRANSIENT`: it copies the bytes before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension Optional where Wrapped == Int {
    var sqlite: SQLiteRows.Value { map { .integer(Int64($0)) } ?? .null }
}

extension Optional where Wrapped == Int64 {
    var sqlite: SQLiteRows.Value { map { .integer($0) } ?? .null }
}

extension Optional where Wrapped == String {
    var sqlite: SQLiteRows.Value { map { .text($0) } ?? .null }
}
