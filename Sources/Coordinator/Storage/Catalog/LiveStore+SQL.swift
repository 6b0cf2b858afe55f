import Foundation

/// A live title while it streams: its content key sealed under the coordinator's key, the
/// SHA-256 of its stream key (the key itself is never stored), where its ingest is, and whether
/// it still streams. When it ends its recording is registered as a published title of the same id.
package struct LiveRecord: Sendable, Equatable {
    package enum State: String, Sendable {
        case live
        case ended
    }

    package var id: String
    package var sealedKey: String
    package var streamKeyHash: String
    package var state: State
    package var latitude: Double
    package var longitude: Double
    package var createdAt: Int64
    package var endedAt: Int64?

    package init(
        id: String, sealedKey: String, streamKeyHash: String, state: State = .live, latitude: Double, longitude: Double,
        createdAt: Int64, endedAt: Int64? = nil
    ) {
        self.id = id
        self.sealedKey = sealedKey
        self.streamKeyHash = streamKeyHash
        self.state = state
        self.latitude = latitude
        self.longitude = longitude
        self.createdAt = createdAt
        self.endedAt = endedAt
    }
}

/// Live titles, written once for both databases.
extension LiveStore where Self: SQLDatabase {
    /// Stores a title that streams now (`state` and `endedAt` are not read).
    package func saveLive(_ live: LiveRecord) async throws {
        let inserted = try await changedRow(
            """
            INSERT INTO live_titles (id, sealed_key, stream_key_hash, state, latitude, longitude, created_at)
            SELECT \(live.id), \(live.sealedKey), \(live.streamKeyHash), \(live.state.rawValue), \(live.latitude), \(live.longitude),
                \(live.createdAt)
            WHERE NOT EXISTS (SELECT 1 FROM contents WHERE id = \(live.id))
            ON CONFLICT DO NOTHING RETURNING id
            """)
        guard inserted else { throw StoreFailure.duplicate("\(live.id) is already a live or published title") }
    }

    package func liveTitles(limit: Int) async throws -> [(id: String, live: Bool)] {
        try await rows("SELECT id, state FROM live_titles ORDER BY created_at DESC, id LIMIT \(limit)") { row in
            (try row.text(0), try row.text(1) == LiveRecord.State.live.rawValue)
        }
    }

    package func live(id: String) async throws -> LiveRecord? {
        try await first(
            "SELECT id, sealed_key, stream_key_hash, state, latitude, longitude, created_at, ended_at FROM live_titles WHERE id = \(id)"
        ) { row in
            guard let state = LiveRecord.State(rawValue: try row.text(3)) else { throw StoreFailure.corrupt("live title \(try row.text(0)) has an unknown state") }
            return LiveRecord(
                id: try row.text(0), sealedKey: try row.text(1), streamKeyHash: try row.text(2), state: state, latitude: try row.real(4),
                longitude: try row.real(5), createdAt: try row.integer(6), endedAt: try row.optionalInteger(7))
        }
    }

    package func rotateStreamKey(id: String, hash: String) async throws -> Bool {
        try await changedRow("UPDATE live_titles SET stream_key_hash = \(hash) WHERE id = \(id) AND state = 'live' RETURNING id")
    }

    package func endLive(id: String, at: Int64) async throws -> Bool {
        try await changedRow("UPDATE live_titles SET state = 'ended', ended_at = \(at) WHERE id = \(id) AND state = 'live' RETURNING id")
    }
}
