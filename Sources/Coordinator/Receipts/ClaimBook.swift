import Crypto
import DePINProtocol
import DequeModule
import Foundation

/// Turns edges' delivery claims into signed receipts, after checking each against what the
/// coordinator knows:
///
/// - the session is one this coordinator issued for that title (its id carries a MAC, see
///   ``KeyVault/newSession(content:now:)``), and the claim falls within the session's life;
/// - the claim id was never accepted before (a resubmission of the same claim by the same edge
///   gets its first receipt again: none lost, none counted twice);
/// - all edges together deliver a session at most ``Policy/bytesFactor`` times the title's
///   size, and no faster than playback allows (the title's peak bitrate over the session's
///   wall time plus ``Policy/bufferSeconds``, times the same factor);
/// - a session is served by at most ``Policy/maxEdgesPerSession`` edges; a slashed edge earns
///   no receipts.
///
/// Accepted claims of a batch get receipts under one Ed25519 signature (a Merkle root), and are
/// stored before the answer goes out.
///
/// Rounds are checked one at a time (a FIFO turn, held across the store's awaits, which an
/// actor alone would not do), so session totals never race within one coordinator. A round
/// hands the turn on once it is checked; its Merkle tree, signature and stored layout are made
/// off the actor while the next round is checked, and rounds are written in their order, those
/// ready meanwhile together in one transaction (group commit). With a store only this
/// coordinator writes (SQLite), what it wrote is kept in memory and a round reads the store only
/// for sessions issued up to the newest one stored when it started (or dropped from memory
/// since); with a shared one (PostgreSQL) every round reads its sessions. Two coordinators on
/// one database may each accept a claim for the same session at once; the store refuses a
/// claim twice.
package actor ClaimBook {
    let store: any CatalogStore & ClaimStore & EpochStore
    let vault: KeyVault
    let registry: Registry
    let policy: Policy
    private let now: @Sendable () -> Int64
    /// Each title's size in bytes and peak bitrate (bits/s).
    let catalog: Catalog
    /// Whether a batch holds the turn, and the batches waiting, in order (a deque: a round
    /// takes up to 20,000 one-claim batches from its front).
    var busy = false
    var waiting: Deque<Submission> = []
    /// Claims and session totals of rounds whose write has not finished. A round hands the
    /// turn on as soon as it is checked, and the next round is checked against these while it
    /// is signed and written; a round whose check saw a round in flight fails if that one's write fails,
    /// so nothing is answered or built on a round that was not stored.
    var claimsInFlight: [ClaimKey: InFlight] = [:]
    var totalsInFlight: [UInt128: (total: Delivered, round: Int)] = [:]
    /// Each round in flight: its accepted claims (the `index`-th is a claim's in
    /// `claimsInFlight`, its receipt the `index`-th of the batch once signed), and which claims
    /// and sessions it put there.
    var keysInFlight: [Int: (signed: SignedRound, claims: [ClaimKey], sessions: [UInt128])] = [:]
    /// What the store holds for sessions, as far as this coordinator knows it for certain (a
    /// store no other coordinator writes): written by this process, or read while no round of
    /// the session was in flight. A session issued after `watermark` that is not here has no
    /// stored claim (read from the store at the first round: the newest session it has).
    var committed: [UInt128: (delivered: Delivered, ids: ClaimIDs, issued: Int64)] = [:]
    var watermark: Int64?
    /// Sessions kept in memory at most; the oldest issued go first (and raise the watermark).
    /// Roughly 170 bytes each by their layout (table entry and edge list): a million sessions
    /// claimed within their lifetime is under 200 MB.
    static let committedSessions = 1_000_000
    /// Rounds whose write finished (or failed): their keys go at the next round's start, before
    /// its store read, which then sees what they wrote.
    var landed: [Int] = []
    var rounds = 0
    /// Rounds laid out and waiting to be written, by number; rounds with nothing to write; the
    /// next round to write (rounds are written in order); whether the writer runs; the last
    /// round whose write failed (or that depended on one that did).
    var unwritten: [Int: Write] = [:]
    var unwrittenSkipped: Set<Int> = []
    var nextWrite = 1
    var writing = false
    var lastFailedRound = 0

    package init(
        store: any CatalogStore & ClaimStore & EpochStore, vault: KeyVault, registry: Registry, policy: Policy = Policy(), catalog: Catalog? = nil,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.catalog = catalog ?? Catalog(store: store, now: now)
        self.vault = vault
        self.registry = registry
        self.policy = policy
        self.now = now
    }

    /// The most claims one round takes along.
    static let roundClaims = 20_000

    /// Checks `claims` from `node` and answers a receipt or a reason for each.
    ///
    /// What needs no store (the claim's form, its session's MAC, its receipt's leaf hash) is
    /// checked on the caller's task, so batches from many edges use every core. Then the batch
    /// waits for its turn; batches that arrive while a round runs wait, and the next round takes
    /// them all along: one read, one Ed25519 signature and one transaction for every edge that
    /// claimed meanwhile (group commit). The receipts, each with its Merkle path, are made
    /// after the turn, again on the caller's task.
    /// - Throws: ``StoreFailure`` when the store fails (nothing is accepted then).
    package nonisolated func submit(_ claims: [DeliveryClaim], from node: String) async throws -> ClaimAnswer {
        let time = now()
        let prepared = claims.map { prepare($0, node: node, at: time) }
        let outcomes = try await enter(prepared, from: node)
        var answer = ClaimAnswer(receipts: [], refused: [])
        answer.receipts.reserveCapacity(outcomes.count)
        var last: (round: SignedRound, batch: DeliveryReceipt.SignedBatch)?
        for outcome in outcomes {
            switch outcome {
            case .signed(let round, let index):
                if last?.round !== round { last = (round, round.batch) }
                answer.receipts.append(last!.batch.receipt(index))
            case .again(let receipt): answer.receipts.append(receipt)
            case .refused(let claim, let reason): answer.refused.append(.init(claim: claim, reason: reason))
            }
        }
        return answer
    }

    private nonisolated func prepare(_ claim: DeliveryClaim, node: String, at time: Int64) -> Prepared {
        guard let id = UInt128.fromHex(claim.id.utf8) else { return .refused(claim, "claim id must be 32 lowercase hex digits") }
        guard Identifier.isValid(claim.content), let (issued, session) = vault.checkedSession(claim.session, content: claim.content) else {
            return .refused(claim, "session \(claim.session.prefix(80)) was not issued by this coordinator for \(claim.content.prefix(64))")
        }
        guard claim.bytes > 0, claim.segments >= 0, claim.segments <= 1_000_000, (0...600_000).contains(claim.ttfbMilliseconds),
            claim.firstAt <= claim.lastAt
        else {
            return .refused(claim, "bytes must be positive, segments and ttfbMilliseconds plausible, firstAt not after lastAt")
        }
        guard claim.firstAt >= issued - policy.skew, claim.lastAt <= time + policy.skew, claim.lastAt <= issued + policy.sessionLifetime + policy.skew
        else {
            return .refused(
                claim, "the claim's times (\(claim.firstAt) to \(claim.lastAt)) fall outside session \(claim.session)'s life (issued \(issued))")
        }
        let body = DeliveryReceipt.Body(claim: claim, node: node, acceptedAt: time)
        return .ready(body, issued: issued, key: ClaimKey(session: session, id: id), leaf: body.leafDigest)
    }

    /// Waits for the turn, runs a round with the batches waiting, and hands each its outcomes.
    private func enter(_ claims: [Prepared], from node: String) async throws -> [Outcome] {
        if busy {
            let handed = await withCheckedContinuation { waiting.append(Submission(claims: claims, node: node, reply: $0)) }
            if let result = handed { return try result.get() }
        } else {
            busy = true
        }
        // This batch holds the turn: it takes the waiting ones along.
        var round = [Submission(claims: claims, node: node, reply: nil)]
        var taken = claims.count
        while let next = waiting.first, taken + next.claims.count <= Self.roundClaims {
            round.append(waiting.removeFirst())
            taken += next.claims.count
        }
        var results: [Result<[Outcome], any Error>]
        let number = nextRound()
        do {
            let checked = try await check(round, number: number)
            // The next round is checked while this one is laid out for the store (off this
            // actor) and written; rounds are written in their order.
            passTurn()
            do {
                if let write = checked.write {
                    let save: Result<ClaimsToSave, any Error>
                    do { save = .success(try await Self.layOut(write, key: vault.identity.privateKey)) } catch { save = .failure(error) }
                    try await withCheckedThrowingContinuation { done in
                        unwritten[number] = Write(number: number, reliesOn: write.reliesOn, save: save, sessions: write.sessions, done: done)
                        startWriter()
                    }
                } else {
                    skipWrite(number)
                }
                results = checked.outcomes.map { .success($0) }
            } catch {
                results = round.map { _ in .failure(error) }
            }
        } catch {
            passTurn()
            skipWrite(number)
            results = round.map { _ in .failure(error) }
        }
        for (submission, result) in zip(round, results).dropFirst() { submission.reply?.resume(returning: result) }
        return try results[0].get()
    }

    /// Checks every submission of a round against the store and the rounds still being
    /// written and signs the receipts of all at once.
    /// - Returns: each submission's outcomes, the round's number, and what to write (the
    ///   batch's root, signature and leaves once; each claim's row; the sessions' totals).
    private func check(_ round: [Submission], number: Int) async throws -> (outcomes: [[Outcome]], write: RoundWrite?) {
        // Rounds that landed are in the store now; the rest stay in flight through this check.
        purgeLanded()
        let reliesOn = keysInFlight.keys.min()
        let roundTime = now()
        let claimCount = round.reduce(0) { $0 + $1.claims.count }
        // Each session's state before this round: from memory, the store, or none yet. The
        // store is read for the sessions it may know more of than memory, each once.
        let shared = store.isShared
        if watermark == nil, !shared { watermark = try await store.newestClaimedSession().map { KeyVault.issued(ofSession: $0) ?? .max } ?? .min }
        let stored = watermark ?? .max
        var unknown: [(key: UInt128, id: String, issued: Int64)] = []
        var asked: Set<UInt128> = []
        for submission in round {
            for case .ready(let body, let issued, let key, _) in submission.claims
            where (shared || (issued <= stored && committed[key.session] == nil)) && asked.insert(key.session).inserted {
                unknown.append((key.session, body.claim.session, issued))
            }
        }
        var read: [UInt128: (delivered: Delivered, ids: ClaimIDs)] = [:]
        func key(_ session: String, _ id: String) throws -> ClaimKey {
            guard let session = KeyVault.key(ofSession: session), let id = UInt128.fromHex(id.utf8) else {
                throw StoreFailure.corrupt("stored claim \(id.prefix(64)) of session \(session.prefix(80)) has a malformed id")
            }
            return ClaimKey(session: session, id: id)
        }
        if shared {
            // Sessions' sums from the database, and which of this round's claims it has: the
            // sessions' other claims (hundreds for a long playback) stay there.
            for total in try await store.sessionTotals(ids: unknown.map(\.id)) {
                guard let session = KeyVault.key(ofSession: total.id) else { continue }
                read[session, default: (Delivered(), [])].delivered = Delivered(bytes: total.bytes, edges: total.edges)
            }
            var asked: [SessionClaim.Key] = []
            for submission in round {
                for case .ready(let body, _, let key, _) in submission.claims where claimsInFlight[key] == nil {
                    asked.append(SessionClaim.Key(session: body.claim.session, id: body.claim.id))
                }
            }
            for known in try await store.storedClaims(keys: asked) {
                let stored = try key(known.session, known.id)
                read[stored.session, default: (Delivered(), [])].ids.insert(stored.id)
            }
        } else {
            for claim in try await store.sessionClaims(sessions: unknown.map(\.id)) {
                let stored = try key(claim.key.session, claim.key.id)
                var state = read[stored.session] ?? (Delivered(), [])
                state.delivered.bytes += claim.bytes
                state.delivered.add(edge: claim.node)
                state.ids.insert(stored.id)
                read[stored.session] = state
            }
        }
        if !shared {
            // Read while none of their rounds was in flight: what the store holds, for good.
            for session in unknown where totalsInFlight[session.key] == nil {
                let state = read[session.key] ?? (Delivered(), [])
                committed[session.key] = (state.delivered, state.ids, session.issued)
            }
        }
        // (Each table is looked up only when it holds anything: a look-up hashes the key even then.)
        func isStored(_ key: ClaimKey) -> Bool {
            (read.isEmpty ? nil : read[key.session]?.ids.contains(key.id)) ?? committed[key.session]?.ids.contains(key.id) ?? false
        }
        func delivered(_ session: UInt128) -> Delivered {
            (totalsInFlight.isEmpty ? nil : totalsInFlight[session]?.total) ?? (read.isEmpty ? nil : read[session]?.delivered)
                ?? committed[session]?.delivered ?? Delivered()
        }
        // Each claim's round in flight, or whether it is stored, looked up once (in the round's
        // order); claims sent before: their records, to answer the same receipt.
        var known: [(flying: InFlight?, stored: Bool)] = []
        known.reserveCapacity(claimCount)
        var again: [SessionClaim.Key] = []
        for submission in round {
            for prepared in submission.claims {
                guard case .ready(let body, _, let key, _) = prepared else {
                    known.append((nil, false))
                    continue
                }
                let flying = claimsInFlight.isEmpty ? nil : claimsInFlight[key]
                let stored = flying == nil && isStored(key)
                known.append((flying, stored))
                if stored { again.append(SessionClaim.Key(session: body.claim.session, id: body.claim.id)) }
            }
        }
        let previous = Dictionary(
            try await store.claims(keys: again).map { (SessionClaim.Key(session: $0.session, id: $0.id), $0) }, uniquingKeysWith: { a, _ in a })
        let batches = Dictionary(
            try await store.receiptBatches(ids: Array(Set(previous.values.compactMap(\.batch)))).map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first })
        var totals: [UInt128: SessionWrite] = [:]
        totals.reserveCapacity(claimCount)
        var bodies: [DeliveryReceipt.Body] = []
        var leaves: [UInt8] = []
        var keys: [ClaimKey] = []
        bodies.reserveCapacity(claimCount)
        leaves.reserveCapacity(claimCount * MerkleTree.hashSize)
        keys.reserveCapacity(claimCount)
        // Rounds usually carry one title or a few: the last one looked up is kept at hand.
        var lastTitle: (content: String, title: (bytes: Int64, bitrate: Int64))?
        var outcomes: [[Outcome?]] = round.map { Array(repeating: nil, count: $0.claims.count) }
        var pending: [(submission: Int, claim: Int)] = []  // which claim each accepted body is
        var seen: Set<ClaimKey> = []
        seen.reserveCapacity(claimCount)
        var claimIndex = -1  // in the round, as in `known`
        for (index, submission) in round.enumerated() {
            let node = submission.node
            let slashed = registry.isSlashed(node)
            for (position, prepared) in submission.claims.enumerated() {
                claimIndex += 1
                guard case .ready(var body, let issued, let key, var leaf) = prepared else {
                    if case .refused(let claim, let reason) = prepared { outcomes[index][position] = .refused(claim: claim.id, reason: reason) }
                    continue
                }
                if roundTime - body.acceptedAt > ClaimLines.spread {
                    // Waited long for its turn: accepted now, so a batch's claims stay close in time.
                    body = DeliveryReceipt.Body(claim: body.claim, node: node, acceptedAt: roundTime)
                    leaf = body.leafDigest
                }
                let claim = body.claim
                func refuse(_ reason: String) { outcomes[index][position] = .refused(claim: claim.id, reason: reason) }
                guard seen.insert(key).inserted else {
                    refuse("claim \(claim.id) was sent twice at once: a replayed claim")
                    continue
                }
                if let flying = known[claimIndex].flying, let signed = keysInFlight[flying.round]?.signed {
                    let earlier = signed.bodies[Int(flying.index)]
                    if earlier.node == node, earlier.claim == claim {
                        outcomes[index][position] = .signed(signed, index: Int(flying.index))  // a resubmission while its round is written
                    } else {
                        refuse("claim id \(claim.id) was already used: a replayed or altered claim")
                    }
                    continue
                }
                if known[claimIndex].stored {
                    if let earlier = previous[SessionClaim.Key(session: claim.session, id: claim.id)], earlier.node == node,
                        let receipt = earlier.receipt(in: earlier.batch.flatMap { batches[$0] }), receipt.body.claim == claim
                    {
                        outcomes[index][position] = .again(receipt)  // a resubmission: the same receipt again
                    } else {
                        refuse("claim id \(claim.id) was already used: a replayed or altered claim")
                    }
                    continue
                }
                if slashed {
                    refuse("node \(node) has been slashed and earns no receipts")
                    continue
                }
                let title: (bytes: Int64, bitrate: Int64)
                if let lastTitle, lastTitle.content == claim.content {
                    title = lastTitle.title
                } else {
                    let found: Catalog.Title?
                    do {
                        found = try await catalog.title(claim.content, recheck: true)
                    } catch let failure as StoreFailure where failure.code == .corrupt {
                        refuse("\(failure); the coordinator cannot check claims for it")
                        continue
                    }
                    guard let found else {
                        refuse("no content \(claim.content)")
                        continue
                    }
                    title = (found.bytes, found.bitrate)
                    lastTitle = (claim.content, title)
                }
                var change = totals[key.session] ?? SessionWrite(delivered: delivered(key.session), added: [], issued: issued)
                if !change.delivered.edges.contains(node) {
                    guard change.delivered.edges.count < policy.maxEdgesPerSession else {
                        refuse(
                            "session \(claim.session) already has \(change.delivered.edges.count) edges delivering it (at most \(policy.maxEdgesPerSession))"
                        )
                        continue
                    }
                }
                let total = change.delivered.bytes + claim.bytes
                let sizeCap = Int64(Double(title.bytes) * policy.bytesFactor)
                guard total <= sizeCap else {
                    refuse(
                        "session \(claim.session) would have \(total) bytes; at most \(sizeCap) (\(policy.bytesFactor) x the title's \(title.bytes))")
                    continue
                }
                let wall = max(0, claim.lastAt - issued) + policy.bufferSeconds
                let rateCap = Int64(Double(wall) * Double(title.bitrate) / 8 * policy.bytesFactor)
                guard total <= rateCap else {
                    refuse(
                        "session \(claim.session) would have \(total) bytes \(wall - policy.bufferSeconds) s after it began; playback allows at most \(rateCap)"
                    )
                    continue
                }
                change.delivered.bytes = total
                change.delivered.add(edge: node)
                change.added.append(key.id)
                totals[key.session] = change
                bodies.append(body)
                withUnsafeBytes(of: leaf) { leaves += $0 }
                keys.append(key)
                pending.append((index, position))
            }
        }
        guard !bodies.isEmpty else {
            // Nothing to write; resubmissions answered from rounds in flight wait for those.
            return (
                outcomes.map { $0.compactMap { $0 } },
                reliesOn.map { RoundWrite(reliesOn: $0, round: nil, batchID: "", acceptedAt: roundTime, sessions: [:]) }
            )
        }
        let signed = SignedRound(bodies: bodies, leaves: leaves)
        // (No reserveCapacity on these: they grow and shrink round by round, and reserving
        // exactly would rehash them at every round instead of doubling now and then.)
        for (index, place) in pending.enumerated() {
            let outcome = Outcome.signed(signed, index: index)
            outcomes[place.submission][place.claim] = outcome
            claimsInFlight[keys[index]] = InFlight(round: number, index: Int32(index))
        }
        for (session, change) in totals { totalsInFlight[session] = (change.delivered, number) }
        keysInFlight[number] = (signed, keys, Array(totals.keys))
        return (
            outcomes.map { $0.compactMap { $0 } },
            RoundWrite(
                reliesOn: reliesOn, round: signed, batchID: DeliveryClaim.newID(), acceptedAt: bodies.lazy.map(\.acceptedAt).min() ?? roundTime,
                sessions: totals)
        )
    }

    /// The next round's number.
    private func nextRound() -> Int {
        rounds += 1
        return rounds
    }

    /// Signs a round's claims as one batch (its Merkle tree and one signature) and lays them
    /// out as the store keeps them (the lines' text): off the actor, so the next round is
    /// checked meanwhile.
    private nonisolated static func layOut(_ write: RoundWrite, key: Curve25519.Signing.PrivateKey) async throws -> ClaimsToSave {
        guard let round = write.round else { return ClaimsToSave([], batches: []) }
        let batch = ReceiptBatch(id: write.batchID, acceptedAt: write.acceptedAt, signed: try round.sign(with: key))
        let records = round.bodies.enumerated().map { leaf, body in
            ClaimRecord(
                id: body.claim.id, node: body.node, content: body.claim.content, session: body.claim.session, bytes: body.claim.bytes,
                acceptedAt: body.acceptedAt, segments: body.claim.segments, ttfbMilliseconds: body.claim.ttfbMilliseconds,
                firstAt: body.claim.firstAt,
                lastAt: body.claim.lastAt, batch: write.batchID, leaf: leaf)
        }
        return ClaimsToSave(records, batches: [batch])
    }

    /// Hands the turn to the next batch waiting (which then holds it), or frees it.
    private func passTurn() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().reply?.resume(returning: nil)
        }
    }
}
