import DequeModule

extension ClaimBook {
    /// The rounds of a claim book, without I/O: whose turn it is to check a round, what the
    /// rounds checked but not yet stored hold, and which rounds are written when. Each event
    /// returns what its caller (the actor) must do.
    ///
    /// - Turn: one round is checked at a time. Batches that arrive meanwhile wait in order, and
    ///   the next round takes along as many as fit in ``ClaimBook/roundClaims``.
    /// - In flight: a round hands the turn on once it is checked. Until its write lands, its
    ///   claims and session totals are what later rounds check against, and those rounds rely
    ///   on it: they fail if its write fails, so nothing is answered or built on a round that
    ///   was not stored. What a round had in flight is forgotten at the next round's start,
    ///   before that round reads the store (which then holds it).
    /// - Writes: rounds are written in their order, those ready meanwhile together in one
    ///   transaction (group commit). A round that could not be laid out, or that relied on a
    ///   round whose write failed, fails without being written.
    ///
    /// Generic over what waits for the turn (`Waiter`) and what waits for its write (`Pending`),
    /// which it only hands back, so tests drive it with plain values. Not thread-safe: its
    /// owner serialises the events (the actor does).
    ///
    /// ## Performance characteristics
    /// A round costs one table insertion per accepted claim and per session it changed when it
    /// is checked, and one removal each when the next round starts after its write landed
    /// (none when no round is left in flight: the tables are emptied at once).
    struct StateMachine<Waiter, Pending> {
        /// Whether a round holds the turn, and the batches waiting, in order, with their claim
        /// counts (a deque: a round takes up to 20,000 one-claim batches from its front).
        private var busy = false
        private var waiting: Deque<(waiter: Waiter, claims: Int)> = []
        private var rounds = 0
        /// Claims and session totals of rounds in flight, and each round's accepted claims
        /// (the `index`-th is a claim's in `claimsInFlight`) and the claims and sessions it put
        /// there.
        private var claimsInFlight: [ClaimKey: InFlight] = [:]
        private var totalsInFlight: [UInt128: (total: Delivered, round: Int)] = [:]
        private var keysInFlight: [Int: (signed: SignedRound, claims: [ClaimKey], sessions: [UInt128])] = [:]
        /// Rounds whose write finished (or failed): their keys go at the next round's start.
        private var landed: [Int] = []
        /// Rounds waiting to be written, by number (whether they were laid out, and the oldest
        /// round in flight when they were checked); rounds with nothing to write; the next round
        /// to write; the rounds in the transaction under way; whether the writer runs; the last
        /// round whose write failed (or that relied on one that did).
        private var unwritten: [Int: (pending: Pending, laidOut: Bool, reliesOn: Int?)] = [:]
        private var skipped: Set<Int> = []
        private var nextToWrite = 1
        private var storing: [Int] = []
        private var writing = false
        private var lastFailedRound = 0

        init() {}

        // MARK: The turn

        /// What a batch that arrives does.
        enum ArrivalAction: Equatable {
            /// Hold the turn: start a round (``roundStarted(_:claims:)``).
            case startRound
            /// Wait (``wait(_:claims:)``) until a round takes it along or the turn is handed to it.
            case wait
        }

        /// A batch arrived and wants the turn.
        mutating func submissionArrived() -> ArrivalAction {
            if busy { return .wait }
            busy = true
            return .startRound
        }

        /// A batch told to ``ArrivalAction/wait`` waits, behind those before it.
        mutating func wait(_ waiter: Waiter, claims: Int) {
            waiting.append((waiter, claims))
        }

        /// A round about to be checked.
        struct Round {
            var number: Int
            /// The batch that holds the turn first, then those it took along.
            var submissions: [Waiter]
            /// The oldest round in flight: this one relies on it and every later one.
            var reliesOn: Int?
        }

        /// The batch `first` (of `claims` claims) holds the turn and starts a round: it takes
        /// along the batches waiting, in order, while the round stays within
        /// ``ClaimBook/roundClaims``; what the rounds that landed had in flight is forgotten.
        mutating func roundStarted(_ first: Waiter, claims: Int) -> Round {
            var submissions = [first]
            var taken = claims
            while let next = waiting.first, taken + next.claims <= ClaimBook.roundClaims {
                submissions.append(waiting.removeFirst().waiter)
                taken += next.claims
            }
            rounds += 1
            purgeLanded()
            return Round(number: rounds, submissions: submissions, reliesOn: keysInFlight.keys.min())
        }

        /// What happens to the turn once a round is checked.
        enum HandoffAction {
            /// Hand it to this batch, which then starts the next round.
            case handTurn(to: Waiter)
            /// None waits: the turn is free.
            case free
        }

        /// Round `number` was checked; what it accepted (if its check did not fail and it accepted
        /// any) is in flight until its write lands. The turn goes on.
        mutating func roundChecked(_ number: Int, accepted write: RoundWrite?) -> HandoffAction {
            // (No reserveCapacity on these tables: they grow and shrink round by round, and
            // reserving exactly would rehash them at every round instead of doubling now and then.)
            if let write, let signed = write.round {
                for (index, key) in write.claims.enumerated() { claimsInFlight[key] = InFlight(round: number, index: Int32(index)) }
                for (session, change) in write.sessions { totalsInFlight[session] = (change.delivered, number) }
                keysInFlight[number] = (signed, write.claims, Array(write.sessions.keys))
            }
            guard !waiting.isEmpty else {
                busy = false
                return .free
            }
            return .handTurn(to: waiting.removeFirst().waiter)
        }

        // MARK: What is in flight

        /// Where `key` is, if a round in flight accepted it.
        func inFlight(_ key: ClaimKey) -> InFlight? {
            // (A look-up hashes the key even in an empty table.)
            claimsInFlight.isEmpty ? nil : claimsInFlight[key]
        }

        /// Whether a round in flight accepted `key`.
        func isInFlight(_ key: ClaimKey) -> Bool { inFlight(key) != nil }

        /// The accepted claims of round `number`, while it is in flight.
        func signedRound(_ number: Int) -> SignedRound? { keysInFlight[number]?.signed }

        /// A session's totals after the last round in flight that changed it.
        func delivered(inFlight session: UInt128) -> Delivered? {
            totalsInFlight.isEmpty ? nil : totalsInFlight[session]?.total
        }

        /// Whether a round in flight changed `session`.
        func hasRoundInFlight(session: UInt128) -> Bool { totalsInFlight[session] != nil }

        /// Forgets what the rounds that landed had in flight.
        private mutating func purgeLanded() {
            let rounds = landed.compactMap { number in keysInFlight.removeValue(forKey: number).map { (number, $0) } }
            landed.removeAll(keepingCapacity: true)
            if keysInFlight.isEmpty {
                // None left in flight: all go at once, without looking each up.
                claimsInFlight.removeAll(keepingCapacity: true)
                totalsInFlight.removeAll(keepingCapacity: true)
            } else {
                // (One look-up each: an entry a later round replaced goes back.)
                for (number, keys) in rounds {
                    for key in keys.claims {
                        if let later = claimsInFlight.removeValue(forKey: key), later.round != number { claimsInFlight[key] = later }
                    }
                    for id in keys.sessions {
                        if let later = totalsInFlight.removeValue(forKey: id), later.round != number { totalsInFlight[id] = later }
                    }
                }
            }
        }

        // MARK: Writes

        /// Whether the writer must be started.
        enum WriterAction: Equatable {
            /// Start it: it asks ``nextWrite()`` until told to stop.
            case startWriter
            /// It runs, or nothing is to be written.
            case none
        }

        /// Round `number` is ready to be written after the rounds before it: `pending` if
        /// `laidOut`, or it fails (its layout did) in its turn.
        /// - Parameter reliesOn: ``Round/reliesOn`` of the round.
        mutating func writeQueued(_ number: Int, pending: Pending, laidOut: Bool, reliesOn: Int?) -> WriterAction {
            unwritten[number] = (pending, laidOut, reliesOn)
            return startWriter()
        }

        /// Round `number` writes nothing (it accepted nothing and relied on no round, or its
        /// check failed): the rounds after it need not wait for it.
        mutating func writeSkipped(_ number: Int) -> WriterAction {
            skipped.insert(number)
            return startWriter()
        }

        private mutating func startWriter() -> WriterAction {
            guard !writing else { return .none }
            writing = true
            return .startWriter
        }

        /// Why a round fails without being written.
        enum Failure: Equatable {
            /// It could not be laid out (its pending write holds why).
            case layout
            /// It relied on a round whose write failed.
            case reliedOnFailedRound
        }

        /// What the writer does next.
        enum WriteAction {
            /// Fail `failed` without writing them, then store `group` in one transaction (if any)
            /// and report ``writeFinished(ok:)``; then ask again.
            case write(failed: [(Pending, Failure)], group: [Pending])
            /// Nothing is ready to be written: the writer stops (``writeQueued(_:pending:laidOut:reliesOn:)``
            /// starts it again).
            case stop
        }

        /// The writer asks what to write: the rounds next in order that are ready (a later one
        /// waits for those before it).
        mutating func nextWrite() -> WriteAction {
            precondition(storing.isEmpty, "the writer asked for more before its transaction finished")
            var failed: [(Pending, Failure)] = []
            var group: [Pending] = []
            var found = false
            while true {
                if let write = unwritten.removeValue(forKey: nextToWrite) {
                    found = true
                    if !write.laidOut {
                        lastFailedRound = max(lastFailedRound, nextToWrite)
                        failed.append((write.pending, .layout))
                        landed.append(nextToWrite)
                    } else if let reliesOn = write.reliesOn, reliesOn <= lastFailedRound {
                        lastFailedRound = max(lastFailedRound, nextToWrite)
                        failed.append((write.pending, .reliedOnFailedRound))
                        landed.append(nextToWrite)
                    } else {
                        group.append(write.pending)
                        storing.append(nextToWrite)
                    }
                } else if skipped.remove(nextToWrite) == nil {
                    break
                }
                nextToWrite += 1
            }
            guard found else {
                writing = false
                return .stop
            }
            return .write(failed: failed, group: group)
        }

        /// The transaction of the last ``WriteAction/write(failed:group:)`` finished: its rounds
        /// landed (stored, or failed with every later round that relied on them).
        mutating func writeFinished(ok: Bool) {
            if !ok, let last = storing.last { lastFailedRound = max(lastFailedRound, last) }
            landed.append(contentsOf: storing)
            storing.removeAll(keepingCapacity: true)
        }
    }
}
