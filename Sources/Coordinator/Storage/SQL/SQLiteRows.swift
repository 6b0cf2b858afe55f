import GRDB
import GRDBSQLite

/// Rows written and read through SQLite's C API on a statement GRDB prepared and caches (the one
/// place that calls the C API): for the claim path, which writes and looks up thousands of rows a round, where building GRDB's
/// boxed arguments and rows cost more than SQLite's own work.
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

    /// The columns of the row a query stands on.
    struct Columns {
        let statement: OpaquePointer

        func text(_ column: Int32) -> String { sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "" }
        func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    }

    /// Binds `values`, runs the query and hands each row to `row`.
    /// - Throws: ``StoreFailure`` with SQLite's message when the query fails; what `row` throws.
    func query(_ values: Value..., row: (Columns) throws -> Void) throws {
        let raw = statement.sqliteStatement
        bind(values)
        defer { sqlite3_reset(raw) }
        while true {
            let code = sqlite3_step(raw)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else {
                throw StoreFailure.unavailable("SQLite: \(String(cString: sqlite3_errmsg(database.sqliteConnection)))")
            }
            try row(Columns(statement: raw))
        }
    }

    private func bind(_ values: [Value]) {
        let raw = statement.sqliteStatement
        sqlite3_reset(raw)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .text(let text):
                var text = text
                text.withUTF8 { bytes in
                    _ = sqlite3_bind_text(
                        raw, index, UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(bytes.count), Self.transient)
                }
            case .integer(let number): sqlite3_bind_int64(raw, index, number)
            case .null: sqlite3_bind_null(raw, index)
            }
        }
    }

    /// Binds `values`, runs the statement, and answers how many rows it changed.
    /// - Throws: ``StoreFailure`` with SQLite's message when the statement fails.
    @discardableResult
    func run(_ values: Value...) throws -> Int {
        let raw = statement.sqliteStatement
        bind(values)
        let code = sqlite3_step(raw)
        sqlite3_reset(raw)
        guard code == SQLITE_DONE else {
            throw StoreFailure.unavailable("SQLite: \(String(cString: sqlite3_errmsg(database.sqliteConnection)))")
        }
        return Int(sqlite3_changes(database.sqliteConnection))
    }

    /// Values bound for one run without copying their text: the bytes bound must stay alive
    /// until ``step()``.
    struct InPlaceBinding {
        fileprivate let statement: OpaquePointer

        func text(_ index: Int32, _ text: UnsafeBufferPointer<UInt8>) {
            // (An empty buffer may have no address, and SQLite takes a NULL pointer as SQL NULL.)
            guard let bytes = text.baseAddress, !text.isEmpty else {
                _ = sqlite3_bind_text(statement, index, "", 0, SQLiteRows.transient)
                return
            }
            _ = sqlite3_bind_text(statement, index, UnsafeRawPointer(bytes).assumingMemoryBound(to: CChar.self), Int32(text.count), nil)
        }

        func integer(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(statement, index, value) }

        /// Runs the statement on what is bound and resets it; true when it finished.
        func step() -> Bool {
            defer { sqlite3_reset(statement) }
            return sqlite3_step(statement) == SQLITE_DONE
        }
    }

    /// Runs the statement once with the values `body` binds in place and steps on.
    /// - Throws: ``StoreFailure`` with SQLite's message when the statement fails.
    func runInPlace(_ body: (InPlaceBinding) -> Bool) throws {
        guard body(InPlaceBinding(statement: statement.sqliteStatement)) else {
            throw StoreFailure.unavailable("SQLite: \(String(cString: sqlite3_errmsg(database.sqliteConnection)))")
        }
    }

    /// SQLite's `SQLITE_TRANSIENT`: it copies the bytes before the call returns.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
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
