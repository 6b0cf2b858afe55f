import Crypto
import DePINProtocol
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
/// ready meanwhile together in one transaction (group commit). Who holds the turn, what the
/// rounds in flight hold and which rounds are written when is ``StateMachine``'s: the actor
/// feeds it events and does what they return. The rules a claim must pass are
/// ``ClaimRules``'s. What the store holds for a round's sessions comes from the
/// ``SessionTotalsSource`` the store supplies (a store only this coordinator writes lets it be
/// kept in memory; a shared one is read at every round).
package actor ClaimBook {
    let store: any CatalogStore & LiveStore & ClaimStore & EpochStore
    let vault: KeyVault
    let registry: Registry
    let rules: ClaimRules
    private let now: @Sendable () -> Int64
    /// Each title's size in bytes and peak bitrate (bits/s).
    let catalog: Catalog
    /// The turn, the rounds in flight and their writes.
    var machine = StateMachine<Submission, Write>()
    /// What the store holds for the sessions of a round.
    let sessionTotals: any SessionTotalsSource

    package init(
        store: any CatalogStore & LiveStore & ClaimStore & EpochStore, vault: KeyVault, registry: Registry, policy: Policy = Policy(), catalog: Catalog? = nil,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.catalog = catalog ?? Catalog(store: store, now: now)
        self.vault = vault
        self.registry = registry
        self.rules = ClaimRules(policy: policy)
        self.now = now
        self.sessionTotals = store.sessionTotalsSource()
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
        if let reason = rules.refusal(claim, issued: issued, at: time) { return .refused(claim, reason) }
        let body = DeliveryReceipt.Body(claim: claim, node: node, acceptedAt: time)
        return .ready(body, issued: issued, key: ClaimKey(session: session, id: id), leaf: body.leafDigest)
    }

    /// Waits for the turn, runs a round with the batches waiting, and hands each its outcomes.
    private func enter(_ claims: [Prepared], from node: String) async throws -> [Outcome] {
        if machine.submissionArrived() == .wait {
            let handed = await withCheckedContinuation { machine.wait(Submission(claims: claims, node: node, reply: $0), claims: claims.count) }
            if let result = handed { return try result.get() }
        }
        // This batch holds the turn: it takes the waiting ones along.
        let round = machine.roundStarted(Submission(claims: claims, node: node, reply: nil), claims: claims.count)
        let number = round.number
        var results: [Result<[Outcome], any Error>]
        do {
            let checked = try await check(round.submissions, reliesOn: round.reliesOn)
            // The next round is checked while this one is laid out for the store (off this
            // actor) and written; rounds are written in their order.
            perform(machine.roundChecked(number, accepted: checked.write))
            do {
                if let write = checked.write {
                    let save: Result<ClaimsToSave, any Error>
                    do { save = .success(try await Self.layOut(write, key: vault.identity.privateKey)) } catch { save = .failure(error) }
                    try await withCheckedThrowingContinuation { done in
                        let laidOut = if case .success = save { true } else { false }
                        let pending = Write(save: save, sessions: write.sessions, done: done)
                        perform(machine.writeQueued(number, pending: pending, laidOut: laidOut, reliesOn: write.reliesOn))
                    }
                } else {
                    perform(machine.writeSkipped(number))
                }
                results = checked.outcomes.map { .success($0) }
            } catch {
                results = round.submissions.map { _ in .failure(error) }
            }
        } catch {
            perform(machine.roundChecked(number, accepted: nil))
            perform(machine.writeSkipped(number))
            results = round.submissions.map { _ in .failure(error) }
        }
        for (submission, result) in zip(round.submissions, results).dropFirst() { submission.reply?.resume(returning: result) }
        return try results[0].get()
    }

    /// What is known of a round's claims before they are checked: each one's round in flight, or
    /// whether it is stored (in the round's order), and the records and batches of those stored,
    /// to answer a resubmission the receipt it got.
    private struct Known {
        var claims: [(flying: InFlight?, stored: Bool)]
        var previous: [SessionClaim.Key: ClaimRecord]
        var batches: [String: ReceiptBatch]
    }

    /// Learns what the store holds for a round's sessions (through ``sessionTotals``) and looks
    /// each claim up once.
    private func lookUp(_ round: [Submission], claimCount: Int) async throws -> Known {
        // Each session's state before this round: from the rounds in flight, or what the store
        // holds (as its source knows it), or none yet.
        let reading = sessionTotals.reading(
            round.map(\.claims), claimInFlight: { machine.isInFlight($0) }, sessionInFlight: { machine.hasRoundInFlight(session: $0) })
        let reads = try await reading()
        sessionTotals.loaded(reads, sessionInFlight: { machine.hasRoundInFlight(session: $0) })
        // Each claim's round in flight, or whether it is stored; claims sent before: their
        // records, to answer the same receipt.
        var known: [(flying: InFlight?, stored: Bool)] = []
        known.reserveCapacity(claimCount)
        var again: [SessionClaim.Key] = []
        for submission in round {
            for prepared in submission.claims {
                guard case .ready(let body, _, let key, _) = prepared else {
                    known.append((nil, false))
                    continue
                }
                let flying = machine.inFlight(key)
                let stored = flying == nil && sessionTotals.isStored(key)
                known.append((flying, stored))
                if stored { again.append(SessionClaim.Key(session: body.claim.session, id: body.claim.id)) }
            }
        }
        let previous = Dictionary(
            try await store.claims(keys: again).map { (SessionClaim.Key(session: $0.session, id: $0.id), $0) }, uniquingKeysWith: { a, _ in a })
        let batches = Dictionary(
            try await store.receiptBatches(ids: Array(Set(previous.values.compactMap(\.batch)))).map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first })
        return Known(claims: known, previous: previous, batches: batches)
    }

    /// Checks every submission of a round against the store and the rounds still being
    /// written and signs the receipts of all at once.
    /// - Returns: each submission's outcomes, the round's number, and what to write (the
    ///   batch's root, signature and leaves once; each claim's row; the sessions' totals).
    private func check(_ round: [Submission], reliesOn: Int?) async throws -> (outcomes: [[Outcome]], write: RoundWrite?) {
        let roundTime = now()
        let claimCount = round.reduce(0) { $0 + $1.claims.count }
        let known = try await lookUp(round, claimCount: claimCount)
        func delivered(_ session: UInt128) -> Delivered {
            machine.delivered(inFlight: session) ?? sessionTotals.delivered(session) ?? Delivered()
        }
        var totals: [UInt128: SessionWrite] = [:]
        totals.reserveCapacity(claimCount)
        var bodies: [DeliveryReceipt.Body] = []
        var leaves: [UInt8] = []
        var keys: [ClaimKey] = []
        bodies.reserveCapacity(claimCount)
        leaves.reserveCapacity(claimCount * MerkleTree.hashSize)
        keys.reserveCapacity(claimCount)
        // Rounds usually carry one title or a few: the last one found is kept at hand.
        var lastTitle: (content: String, title: ClaimRules.Title)?
        var outcomes: [[Outcome?]] = round.map { Array(repeating: nil, count: $0.claims.count) }
        var pending: [(submission: Int, claim: Int)] = []  // which claim each accepted body is
        var seen: Set<ClaimKey> = []
        seen.reserveCapacity(claimCount)
        var claimIndex = -1  // in the round, as in `known.claims`
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
                if let flying = known.claims[claimIndex].flying, let signed = machine.signedRound(flying.round) {
                    let earlier = signed.bodies[Int(flying.index)]
                    if earlier.node == node, earlier.claim == claim {
                        outcomes[index][position] = .signed(signed, index: Int(flying.index))  // a resubmission while its round is written
                    } else {
                        refuse("claim id \(claim.id) was already used: a replayed or altered claim")
                    }
                    continue
                }
                if known.claims[claimIndex].stored {
                    if let earlier = known.previous[SessionClaim.Key(session: claim.session, id: claim.id)], earlier.node == node,
                        let receipt = earlier.receipt(in: earlier.batch.flatMap { known.batches[$0] }), receipt.body.claim == claim
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
                if lastTitle?.content != claim.content {
                    switch try await title(of: claim.content) {
                    case .refuse(let reason):
                        refuse(reason)
                        continue
                    case .found(let title): lastTitle = (claim.content, title)
                    }
                }
                guard let title = lastTitle?.title else { continue }
                var change = totals[key.session] ?? SessionWrite(delivered: delivered(key.session), added: [], issued: issued)
                switch rules.admit(claim, from: node, issued: issued, delivered: change.delivered, title: title) {
                case .refuse(let reason):
                    refuse(reason)
                    continue
                case .accept(let after):
                    change.delivered = after
                }
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
                reliesOn.map { RoundWrite(reliesOn: $0, round: nil, claims: [], batchID: "", acceptedAt: roundTime, sessions: [:]) }
            )
        }
        let signed = SignedRound(bodies: bodies, leaves: leaves)
        for (index, place) in pending.enumerated() { outcomes[place.submission][place.claim] = .signed(signed, index: index) }
        return (
            outcomes.map { $0.compactMap { $0 } },
            RoundWrite(
                reliesOn: reliesOn, round: signed, claims: keys, batchID: DeliveryClaim.newID(),
                acceptedAt: bodies.lazy.map(\.acceptedAt).min() ?? roundTime, sessions: totals)
        )
    }

    /// What the caps need to know of a title, or why claims for it cannot be checked.
    private enum TitleLookup {
        case found(ClaimRules.Title)
        case refuse(String)
    }

    /// The title `content` as the caps need it (its size and peak bitrate), from the catalog.
    /// - Throws: ``StoreFailure`` when the store fails (but for a damaged title: that one is refused).
    private func title(of content: String) async throws -> TitleLookup {
        let found: Catalog.Title?
        do {
            found = try await catalog.title(content, recheck: true)
        } catch let failure as StoreFailure where failure.code == .corrupt {
            return .refuse("\(failure); the coordinator cannot check claims for it")
        }
        guard let found else {
            // A live title has no manifest until its recording is registered: it is capped as
            // if it had streamed at the most a live ladder carries since it began.
            guard let live = try await store.live(id: content) else { return .refuse("no content \(content)") }
            let policy = rules.policy
            let seconds = max(1, (live.endedAt ?? now()) - live.createdAt + policy.bufferSeconds)
            return .found(ClaimRules.Title(bytes: seconds * policy.liveBitrate / 8, bitrate: policy.liveBitrate))
        }
        return .found(ClaimRules.Title(bytes: found.bytes, bitrate: found.bitrate))
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

    /// Hands the turn to the batch it goes to (which then starts the next round).
    private func perform(_ action: StateMachine<Submission, Write>.HandoffAction) {
        if case .handTurn(let submission) = action { submission.reply?.resume(returning: nil) }
    }
}
