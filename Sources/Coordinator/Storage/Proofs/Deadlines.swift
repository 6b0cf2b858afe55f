import Foundation

/// The life of everything the coordinator gives a node with a deadline, proof-of-retrievability
/// challenges and capacity probes alike, in one table (`deadlines`): issued, then settled once,
/// by an answer or by expiring. Each kind keeps only what is its own in its table, joined by id.
enum Deadlines {
    enum Kind: String {
        case challenge
        case probe
    }

    /// The columns of a deadline row, first in every joined read (``Kind`` rows' own follow).
    static let columns = "d.id, d.node_id, d.issued_at, d.deadline, d.outcome, d.answered_ms"

    /// A deadline, issued (its outcome already set when the record was).
    static func issue(
        _ kind: Kind, id: String, node: String, issuedAt: Int64, deadline: Int64, outcome: String?, answeredMillis: Int64?
    ) -> SQLStatement {
        """
        INSERT INTO deadlines (kind, id, node_id, issued_at, deadline, outcome, answered_ms)
        VALUES (\(kind.rawValue), \(id), \(node), \(issuedAt), \(deadline), \(outcome), \(answeredMillis)) RETURNING id
        """
    }

    /// Settles an open deadline; returns its id when it was open.
    static func settle(_ kind: Kind, id: String, outcome: String, answeredMillis: Int64) -> SQLStatement {
        """
        UPDATE deadlines SET outcome = \(outcome), answered_ms = \(answeredMillis)
        WHERE kind = \(kind.rawValue) AND id = \(id) AND outcome IS NULL RETURNING id
        """
    }

    /// Settles every open deadline past `time` as `offline`; returns their ids.
    static func expire(_ kind: Kind, before time: Int64) -> SQLStatement {
        "UPDATE deadlines SET outcome = 'offline' WHERE kind = \(kind.rawValue) AND outcome IS NULL AND deadline < \(time) RETURNING id"
    }

    /// `SELECT` of a kind's rows (deadline columns, then `own`, from `table` as `x`), with
    /// `condition` on them and the order by issue time.
    static func select(_ kind: Kind, own: String, from table: String, where condition: SQLStatement) -> SQLStatement {
        "SELECT \(sql: columns), \(sql: own) FROM deadlines d JOIN \(sql: table) x ON x.id = d.id WHERE d.kind = \(kind.rawValue) AND "
            + condition + " ORDER BY d.issued_at, d.id"
    }

    /// The deadline with this id.
    static func one(_ id: String) -> SQLStatement { "d.id = \(id)" }

    /// A node's open deadlines.
    static func open(node: String) -> SQLStatement { "d.node_id = \(node) AND d.outcome IS NULL" }

    /// A node's settled deadlines issued since `time`.
    static func settled(node: String, since time: Int64) -> SQLStatement {
        "d.node_id = \(node) AND d.issued_at >= \(time) AND d.outcome IS NOT NULL"
    }

    /// The deadlines with these ids.
    static func among(_ ids: [String]) -> SQLStatement { "d.id IN (" + .list(ids) + ")" }
}
