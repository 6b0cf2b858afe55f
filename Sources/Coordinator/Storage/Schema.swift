import Foundation

/// The schema, as numbered migrations written once for both databases. `{ID}` is the
/// auto-numbered key column of each dialect, `{KEYED}` what makes a table one B-tree on its
/// primary key (SQLite's `WITHOUT ROWID`; PostgreSQL has nothing to say), `{NEWEST_BATCH}`
/// the newest receipt batch's SQLite rowid (0 for PostgreSQL); the rest is SQL both accept.
enum Schema {
    enum Dialect {
        case sqlite
        case postgres

        var autoIncrementKey: String {
            switch self {
            case .sqlite: "INTEGER PRIMARY KEY AUTOINCREMENT"
            case .postgres: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            }
        }

        var keyedTable: String {
            switch self {
            case .sqlite: "WITHOUT ROWID"
            case .postgres: ""
            }
        }

        var newestBatch: String {
            switch self {
            case .sqlite: "(SELECT COALESCE(MAX(rowid), 0) FROM receipt_batches)"
            case .postgres: "0"
            }
        }
    }

    static let migrations: [(version: Int, statements: [String])] = [
        (1, [
            """
            CREATE TABLE nodes (
                id TEXT PRIMARY KEY, public_key TEXT NOT NULL, class TEXT NOT NULL, cores INTEGER NOT NULL,
                ram_gb DOUBLE PRECISION NOT NULL, mbps DOUBLE PRECISION NOT NULL, gpu BOOLEAN NOT NULL,
                disk_gb DOUBLE PRECISION NOT NULL, ssd BOOLEAN NOT NULL, latitude DOUBLE PRECISION NOT NULL,
                longitude DOUBLE PRECISION NOT NULL, url TEXT NOT NULL, registered_at BIGINT NOT NULL,
                last_heartbeat BIGINT NOT NULL, load DOUBLE PRECISION NOT NULL, free_cache BIGINT NOT NULL,
                healthy BOOLEAN NOT NULL)
            """,
            "CREATE TABLE nonces (node_id TEXT NOT NULL, nonce TEXT NOT NULL, used_at BIGINT NOT NULL, PRIMARY KEY (node_id, nonce))",
            "CREATE INDEX nonces_used_at ON nonces (used_at)",
            """
            CREATE TABLE ledger (
                seq {ID}, node_id TEXT NOT NULL, kind TEXT NOT NULL, amount BIGINT NOT NULL CHECK (amount > 0),
                reason TEXT NOT NULL, evidence TEXT, at BIGINT NOT NULL)
            """,
            "CREATE INDEX ledger_node ON ledger (node_id, seq)",
            "CREATE TABLE contents (id TEXT PRIMARY KEY, manifest TEXT NOT NULL, sealed_key TEXT NOT NULL, created_at BIGINT NOT NULL)",
        ]),
        (2, [
            """
            CREATE TABLE tasks (
                seq {ID}, node_id TEXT NOT NULL, content_id TEXT NOT NULL, kind TEXT NOT NULL, created_at BIGINT NOT NULL,
                done_at BIGINT, UNIQUE (node_id, content_id, kind))
            """,
            "CREATE INDEX tasks_node ON tasks (node_id, seq)",
            "CREATE INDEX tasks_content ON tasks (content_id)",
        ]),
        (3, ["ALTER TABLE nodes ADD COLUMN transcodes BOOLEAN NOT NULL DEFAULT TRUE"]),
        (4, [
            """
            CREATE TABLE claims (
                id TEXT PRIMARY KEY, node_id TEXT NOT NULL, content_id TEXT NOT NULL, session_id TEXT NOT NULL,
                bytes BIGINT NOT NULL, accepted_at BIGINT NOT NULL, receipt TEXT NOT NULL)
            """,
            "CREATE INDEX claims_node ON claims (node_id, accepted_at)",
            """
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY, content_id TEXT NOT NULL, issued_at BIGINT NOT NULL, bytes BIGINT NOT NULL, edges TEXT NOT NULL)
            """,
        ]),
        (5, [
            """
            CREATE TABLE challenges (
                id TEXT PRIMARY KEY, node_id TEXT NOT NULL, content_id TEXT NOT NULL, segment INTEGER NOT NULL, chunk INTEGER NOT NULL,
                issued_at BIGINT NOT NULL, deadline BIGINT NOT NULL, outcome TEXT, answered_at BIGINT)
            """,
            "CREATE INDEX challenges_node ON challenges (node_id, issued_at)",
            "CREATE INDEX challenges_open ON challenges (deadline) WHERE outcome IS NULL",
        ]),
        (6, [
            """
            CREATE TABLE revenue (
                seq {ID}, epoch BIGINT NOT NULL, source TEXT NOT NULL, amount BIGINT NOT NULL CHECK (amount > 0), reason TEXT NOT NULL,
                at BIGINT NOT NULL)
            """,
            "CREATE INDEX revenue_epoch ON revenue (epoch)",
            "CREATE TABLE epochs (epoch BIGINT PRIMARY KEY, pool BIGINT NOT NULL, carry BIGINT NOT NULL, settled_at BIGINT NOT NULL, report TEXT NOT NULL)",
            "CREATE INDEX claims_accepted ON claims (accepted_at)",
        ]),
        (7, [
            """
            CREATE TABLE probes (
                id TEXT PRIMARY KEY, node_id TEXT NOT NULL, seed TEXT NOT NULL, parts INTEGER NOT NULL, bits INTEGER NOT NULL,
                claimed_cores INTEGER NOT NULL, issued_at BIGINT NOT NULL, deadline BIGINT NOT NULL, delivered_ms BIGINT, outcome TEXT,
                answered_ms BIGINT, measured_cores DOUBLE PRECISION)
            """,
            "CREATE INDEX probes_node ON probes (node_id, issued_at)",
            "CREATE INDEX probes_open ON probes (deadline) WHERE outcome IS NULL",
            """
            CREATE TABLE transcodes (
                node_id TEXT NOT NULL, content_id TEXT NOT NULL, rendition TEXT NOT NULL, segment INTEGER NOT NULL, bytes BIGINT NOT NULL,
                sha256 TEXT NOT NULL, reported_at BIGINT NOT NULL, status TEXT NOT NULL, decided_at BIGINT,
                PRIMARY KEY (node_id, content_id, rendition, segment))
            """,
            "CREATE INDEX transcodes_status ON transcodes (status, reported_at)",
            "CREATE INDEX transcodes_decided ON transcodes (decided_at)",
        ]),
        (8, [
            // Receipts kept compactly: a batch's root, signature and leaf hashes once; each claim
            // its own fields and its place in the batch (receipts are rebuilt on demand). Rows
            // from before keep their receipt JSON.
            "CREATE TABLE receipt_batches (id TEXT PRIMARY KEY, accepted_at BIGINT NOT NULL, root TEXT NOT NULL, signature TEXT NOT NULL, leaves TEXT NOT NULL)",
            "ALTER TABLE claims ADD COLUMN segments INTEGER",
            "ALTER TABLE claims ADD COLUMN ttfb_ms INTEGER",
            "ALTER TABLE claims ADD COLUMN first_at BIGINT",
            "ALTER TABLE claims ADD COLUMN last_at BIGINT",
            "ALTER TABLE claims ADD COLUMN batch_id TEXT",
            "ALTER TABLE claims ADD COLUMN leaf INTEGER",
        ]),
        (9, [
            // A round's claims kept as lines of its receipt batch (ClaimLines), and each claim
            // once, briefly, in a narrow table by session and id that refuses it twice and
            // gives a session's totals: one row a claim instead of a wide row, four index
            // entries and a session row. Rows from before stay in `claims`; sessions' totals
            // are sums of their claims.
            "ALTER TABLE receipt_batches ADD COLUMN claims TEXT",
            "CREATE INDEX receipt_batches_accepted ON receipt_batches (accepted_at)",
            """
            CREATE TABLE session_claims (
                session_id TEXT NOT NULL, id TEXT NOT NULL, node_id TEXT NOT NULL, bytes BIGINT NOT NULL, batch_id TEXT NOT NULL,
                leaf INTEGER NOT NULL, PRIMARY KEY (session_id, id)) {KEYED}
            """,
            """
            INSERT INTO session_claims (session_id, id, node_id, bytes, batch_id, leaf)
            SELECT session_id, id, node_id, bytes, COALESCE(batch_id, ''), COALESCE(leaf, -1) FROM claims
            """,
            "CREATE TABLE claim_nodes (node_id TEXT NOT NULL, batch_id TEXT NOT NULL, PRIMARY KEY (node_id, batch_id)) {KEYED}",
            "DROP TABLE sessions",
        ]),
        (10, [
            // SQLite writes session_claims rows in bulk (SQLiteStore+ClaimIndex): they are in
            // for every receipt batch up to this rowid, and rebuilt from the lines of the later
            // ones after a crash. PostgreSQL writes them with each round and keeps 0 here.
            "CREATE TABLE claim_index (upto BIGINT NOT NULL)",
            "INSERT INTO claim_index (upto) VALUES ({NEWEST_BATCH})",
        ]),
        (11, [
            // One table for the life of everything given a deadline, challenges and capacity
            // probes alike (Deadlines): issued, answered or expired, with its outcome. Each keeps
            // only what is its own in its table.
            """
            CREATE TABLE deadlines (
                kind TEXT NOT NULL, id TEXT NOT NULL, node_id TEXT NOT NULL, issued_at BIGINT NOT NULL, deadline BIGINT NOT NULL,
                outcome TEXT, answered_ms BIGINT, PRIMARY KEY (kind, id))
            """,
            "CREATE INDEX deadlines_node ON deadlines (kind, node_id, issued_at)",
            "CREATE INDEX deadlines_open ON deadlines (kind, deadline) WHERE outcome IS NULL",
            """
            INSERT INTO deadlines (kind, id, node_id, issued_at, deadline, outcome, answered_ms)
            SELECT 'challenge', id, node_id, issued_at, deadline, outcome, answered_at * 1000 FROM challenges
            """,
            """
            INSERT INTO deadlines (kind, id, node_id, issued_at, deadline, outcome, answered_ms)
            SELECT 'probe', id, node_id, issued_at, deadline, outcome, answered_ms FROM probes
            """,
            "DROP INDEX challenges_open",
            "DROP INDEX challenges_node",
            "DROP INDEX probes_open",
            "DROP INDEX probes_node",
            "ALTER TABLE challenges DROP COLUMN node_id",
            "ALTER TABLE challenges DROP COLUMN issued_at",
            "ALTER TABLE challenges DROP COLUMN deadline",
            "ALTER TABLE challenges DROP COLUMN outcome",
            "ALTER TABLE challenges DROP COLUMN answered_at",
            "ALTER TABLE probes DROP COLUMN node_id",
            "ALTER TABLE probes DROP COLUMN issued_at",
            "ALTER TABLE probes DROP COLUMN deadline",
            "ALTER TABLE probes DROP COLUMN outcome",
            "ALTER TABLE probes DROP COLUMN answered_ms",
        ]),
        (12, [
            // Live titles while they stream (LiveStore); the stream key only as its SHA-256.
            """
            CREATE TABLE live_titles (
                id TEXT PRIMARY KEY, sealed_key TEXT NOT NULL, stream_key_hash TEXT NOT NULL, state TEXT NOT NULL,
                latitude DOUBLE PRECISION NOT NULL, longitude DOUBLE PRECISION NOT NULL, created_at BIGINT NOT NULL, ended_at BIGINT)
            """
        ]),
        (13, [
            // The dashboard: a title's transcode reports and the newest live titles, without a scan.
            "CREATE INDEX transcodes_content ON transcodes (content_id, reported_at)",
            "CREATE INDEX live_titles_created ON live_titles (created_at)",
        ]),
    ]

    static var latest: Int { migrations.last!.version }

    static func statements(_ statements: [String], for dialect: Dialect) -> [String] {
        statements.map { $0.replacingOccurrences(of: "{ID}", with: dialect.autoIncrementKey).replacingOccurrences(of: "{KEYED}", with: dialect.keyedTable)
                .replacingOccurrences(of: "{NEWEST_BATCH}", with: dialect.newestBatch)
        }
    }
}
