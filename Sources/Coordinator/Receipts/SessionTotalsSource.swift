import DePINProtocol

/// Where ``ClaimBook`` learns what the store holds for the sessions of a round: each one's
/// totals (bytes, edges) and which of the round's claims are stored. The store supplies it
/// (``ClaimStore/sessionTotalsSource()``), as its way of being shared allows: a store only this
/// coordinator writes may be remembered (``CachedSessionTotals``), one that other coordinators
/// write must be read at every round (``SharedSessionTotals``). The claim book never asks which
/// it has.
///
/// A source belongs to one claim book and is used on its actor only, never across an await:
/// before a round is checked, ``reading(_:claimInFlight:sessionInFlight:)`` says what to read,
/// the book runs that read (on any task), and ``loaded(_:sessionInFlight:)`` takes what it
/// found; ``delivered(_:)`` and ``isStored(_:)`` answer while the round is checked, and
/// ``stored(_:)`` learns what a round's write stored.
package protocol SessionTotalsSource: AnyObject {
    /// The read of the store that checking a round of these claims needs.
    /// - Parameters:
    ///   - round: each batch's claims (the refused ones are passed over).
    ///   - claimInFlight: whether a round in flight accepted a claim (its answer comes from there).
    ///   - sessionInFlight: whether a round in flight changed a session (the store does not hold
    ///     all of it yet).
    /// - Returns: the read, to run on any task; it throws ``StoreFailure`` when the store fails.
    func reading(_ round: [[ClaimBook.Prepared]], claimInFlight: (ClaimBook.ClaimKey) -> Bool, sessionInFlight: (UInt128) -> Bool)
        -> @Sendable () async throws -> SessionReads
    /// Takes what the read found, for the round about to be checked.
    func loaded(_ reads: SessionReads, sessionInFlight: (UInt128) -> Bool)
    /// What a session of the round loaded last has in the store, or nil for nothing known
    /// (nothing stored).
    func delivered(_ session: UInt128) -> ClaimBook.Delivered?
    /// Whether a claim of the round loaded last is stored.
    func isStored(_ key: ClaimBook.ClaimKey) -> Bool
    /// A round's write landed: it stored these sessions' new totals and claims.
    func stored(_ sessions: [UInt128: ClaimBook.SessionWrite])
}

/// What a ``SessionTotalsSource`` read from the store for one round.
package struct SessionReads: Sendable {
    /// Each session's totals and which claims the store has of it (for the sessions it has any).
    var sessions: [UInt128: (delivered: ClaimBook.Delivered, ids: ClaimBook.ClaimIDs)] = [:]
    /// The sessions read in full (all their claims), and when each was issued.
    var complete: [(key: UInt128, issued: Int64)] = []
    /// The issue time of the newest session with a stored claim, when it was read.
    var watermark: Int64?
}

extension ClaimBook.ClaimKey {
    /// The key of a claim read from the store.
    /// - Throws: ``StoreFailure/corrupt(_:)`` when its session or id is malformed.
    init(stored session: String, id: String) throws {
        guard let key = SessionID.key(of: session), let number = UInt128.fromHex(id.utf8) else {
            throw StoreFailure.corrupt("stored claim \(id.prefix(64)) of session \(session.prefix(80)) has a malformed id")
        }
        self.init(session: key, id: number)
    }
}

/// Sessions' totals for a store only this coordinator writes (SQLite): what it stored, and what
/// it read while no round of the session was in flight, is kept in memory for good. A round
/// reads the store only for sessions issued up to the newest one stored when the first round
/// started (the watermark), or dropped from memory since; a session issued later that is not in
/// memory has no stored claim.
///
/// ## Performance characteristics
/// One table look-up a claim in a round. Sessions kept: at most ``sessionsKept``, roughly 170
/// bytes each by their layout (table entry and edge list): a million sessions claimed within
/// their lifetime is under 200 MB. Past that, the older half goes (sorting them: a rare pause)
/// and the watermark rises to the newest dropped.
final class CachedSessionTotals: SessionTotalsSource {
    private let store: any ClaimStore
    /// What the store holds for sessions, as this coordinator knows it for certain.
    private var committed: [UInt128: (delivered: ClaimBook.Delivered, ids: ClaimBook.ClaimIDs, issued: Int64)] = [:]
    /// Sessions issued up to this may have stored claims not in `committed` (nil: not read yet).
    private var watermark: Int64?
    /// What the last round read of sessions not in memory.
    private var read: [UInt128: (delivered: ClaimBook.Delivered, ids: ClaimBook.ClaimIDs)] = [:]
    let sessionsKept: Int

    init(store: any ClaimStore, sessionsKept: Int = 1_000_000) {
        self.store = store
        self.sessionsKept = sessionsKept
    }

    func reading(_ round: [[ClaimBook.Prepared]], claimInFlight: (ClaimBook.ClaimKey) -> Bool, sessionInFlight: (UInt128) -> Bool)
        -> @Sendable () async throws -> SessionReads
    {
        read = [:]
        if committed.count > sessionsKept {
            // The older half goes; sessions with rounds in flight stay.
            let oldest = committed.map { ($0.key, $0.value.issued) }.sorted { $0.1 < $1.1 }.prefix(committed.count / 2)
            for (key, issued) in oldest where !sessionInFlight(key) {
                committed[key] = nil
                watermark = max(watermark ?? issued, issued)
            }
        }
        // The sessions the store may know more of than memory, each once (before the first
        // round: all not in memory, those issued after the watermark left out once it is read).
        let stored = watermark ?? .max
        var unknown: [(key: UInt128, id: String, issued: Int64)] = []
        var asked: Set<UInt128> = []
        for claims in round {
            for case .ready(let body, let issued, let key, _) in claims
            where issued <= stored && committed[key.session] == nil && asked.insert(key.session).inserted {
                unknown.append((key.session, body.claim.session, issued))
            }
        }
        let store = store
        let watermark = watermark
        return { [unknown] in
            var unknown = unknown
            var reads = SessionReads()
            if watermark == nil {
                let newest = try await store.newestClaimedSession().map { SessionID.issued(of: $0) ?? .max } ?? .min
                reads.watermark = newest
                unknown.removeAll { $0.issued > newest }
            }
            for claim in try await store.sessionClaims(sessions: unknown.map(\.id)) {
                let key = try ClaimBook.ClaimKey(stored: claim.key.session, id: claim.key.id)
                var state = reads.sessions[key.session] ?? (ClaimBook.Delivered(), [])
                state.delivered.bytes += claim.bytes
                state.delivered.add(edge: claim.node)
                state.ids.insert(key.id)
                reads.sessions[key.session] = state
            }
            reads.complete = unknown.map { ($0.key, $0.issued) }
            return reads
        }
    }

    func loaded(_ reads: SessionReads, sessionInFlight: (UInt128) -> Bool) {
        if watermark == nil { watermark = reads.watermark }
        // Read while none of their rounds was in flight: what the store holds, for good.
        for session in reads.complete where !sessionInFlight(session.key) {
            let state = reads.sessions[session.key] ?? (ClaimBook.Delivered(), [])
            committed[session.key] = (state.delivered, state.ids, session.issued)
        }
        read = reads.sessions
    }

    func delivered(_ session: UInt128) -> ClaimBook.Delivered? {
        // (Each table is looked up only when it holds anything: a look-up hashes the key even then.)
        (read.isEmpty ? nil : read[session]?.delivered) ?? committed[session]?.delivered
    }

    func isStored(_ key: ClaimBook.ClaimKey) -> Bool {
        (read.isEmpty ? nil : read[key.session]?.ids.contains(key.id)) ?? committed[key.session]?.ids.contains(key.id) ?? false
    }

    /// Keeps what a stored round wrote, for sessions known in memory or issued after the
    /// watermark.
    func stored(_ sessions: [UInt128: ClaimBook.SessionWrite]) {
        let watermark = watermark ?? .max
        for (session, change) in sessions {
            if change.issued > watermark {
                // Known or not: one look-up.
                modify(&committed[session, default: (ClaimBook.Delivered(), [], change.issued)]) {
                    $0.delivered = change.delivered
                    $0.ids.formUnion(change.added)
                }
            } else if let known = committed.index(forKey: session) {
                committed.values[known].delivered = change.delivered
                committed.values[known].ids.formUnion(change.added)
            }
        }
    }
}

/// Sessions' totals for a store other coordinators write too (PostgreSQL): every round reads
/// its sessions' sums from the database, and which of its claims it has (the sessions' other
/// claims, hundreds for a long playback, stay there). Nothing is kept between rounds. Two
/// coordinators may each accept a claim for the same session at once; the store refuses a
/// claim twice.
///
/// ## Performance characteristics
/// Two queries a round; one table look-up a claim.
final class SharedSessionTotals: SessionTotalsSource {
    private let store: any ClaimStore
    /// What the last round read.
    private var read: [UInt128: (delivered: ClaimBook.Delivered, ids: ClaimBook.ClaimIDs)] = [:]

    init(store: any ClaimStore) {
        self.store = store
    }

    func reading(_ round: [[ClaimBook.Prepared]], claimInFlight: (ClaimBook.ClaimKey) -> Bool, sessionInFlight: (UInt128) -> Bool)
        -> @Sendable () async throws -> SessionReads
    {
        read = [:]
        var unknown: [String] = []
        var asked: Set<UInt128> = []
        var claims: [SessionClaim.Key] = []
        for batch in round {
            for case .ready(let body, _, let key, _) in batch {
                if asked.insert(key.session).inserted { unknown.append(body.claim.session) }
                if !claimInFlight(key) { claims.append(SessionClaim.Key(session: body.claim.session, id: body.claim.id)) }
            }
        }
        let store = store
        return { [unknown, claims] in
            var reads = SessionReads()
            for total in try await store.sessionTotals(ids: unknown) {
                guard let session = SessionID.key(of: total.id) else { continue }
                reads.sessions[session, default: (ClaimBook.Delivered(), [])].delivered = ClaimBook.Delivered(bytes: total.bytes, edges: total.edges)
            }
            for known in try await store.storedClaims(keys: claims) {
                let key = try ClaimBook.ClaimKey(stored: known.session, id: known.id)
                reads.sessions[key.session, default: (ClaimBook.Delivered(), [])].ids.insert(key.id)
            }
            return reads
        }
    }

    func loaded(_ reads: SessionReads, sessionInFlight: (UInt128) -> Bool) {
        read = reads.sessions
    }

    func delivered(_ session: UInt128) -> ClaimBook.Delivered? {
        read.isEmpty ? nil : read[session]?.delivered
    }

    func isStored(_ key: ClaimBook.ClaimKey) -> Bool {
        (read.isEmpty ? nil : read[key.session]?.ids.contains(key.id)) ?? false
    }

    func stored(_ sessions: [UInt128: ClaimBook.SessionWrite]) {}
}

/// Runs `change` on `value` in place (a dictionary entry's `_modify`, one look-up).
@inline(__always)
private func modify<Value>(_ value: inout Value, _ change: (inout Value) -> Void) { change(&value) }
