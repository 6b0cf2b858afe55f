import Foundation
import GRDB
import TestSupport
import Testing

@testable import Coordinator

/// One suite, every backend: what the coordinator relies on from its store.
enum StoreConformance {
    static func node(_ id: String, lat: Double = 48.85, at: Int64 = 1_000) -> NodeRecord {
        NodeRecord(
            id: id, publicKey: "key-\(id)", deviceClass: "pc", cores: 8, ramGB: 16, mbps: 500, gpu: true, diskGB: 512, ssd: true,
            latitude: lat, longitude: 2.35, url: "https://\(id).example:8443", registeredAt: at, lastHeartbeat: at)
    }

    /// Runs every check against stores made by `open` (called again to check that data persists).
    static func run(_ open: () async throws -> any CoordinatorStore) async throws {
        let store = try await open()
        try await store.migrate()
        try await store.migrate()  // idempotent
        #expect(try await store.schemaVersion() == Schema.latest)

        // Nodes: insert, read, replace, list.
        #expect(try await store.node(id: "a") == nil)
        try await store.saveNode(node("a"))
        try await store.saveNode(node("b", lat: -33.9))
        #expect(try await store.node(id: "a") == node("a"))
        var moved = node("a", lat: 51.5, at: 2_000)
        moved.cores = 16
        moved.transcodes = false
        try await store.saveNode(moved)
        #expect(try await store.node(id: "a") == moved)
        #expect(try await store.nodes().map(\.id) == ["a", "b"])

        // Heartbeats update what they report; an unknown node's is refused.
        #expect(try await store.recordHeartbeat(Heartbeat(node: "b", at: 3_000, load: 0.75, freeCache: 123_456_789_000, healthy: false)))
        let beat = try await store.node(id: "b")
        #expect(beat?.lastHeartbeat == 3_000 && beat?.load == 0.75 && beat?.freeCache == 123_456_789_000 && beat?.healthy == false)
        #expect(try await !store.recordHeartbeat(Heartbeat(node: "nobody", at: 3_000, load: 0, freeCache: 0, healthy: true)))

        // Nonces: a second use is a replay; another node may use the same nonce; pruning forgets.
        #expect(try await store.useNonce(node: "a", nonce: "n1", at: 100))
        #expect(try await !store.useNonce(node: "a", nonce: "n1", at: 101))
        #expect(try await store.useNonce(node: "b", nonce: "n1", at: 101))
        try await store.pruneNonces(before: 101)
        #expect(try await store.useNonce(node: "a", nonce: "n1", at: 200))
        #expect(try await !store.useNonce(node: "b", nonce: "n1", at: 200))

        // Ledger: increasing sequence numbers, every field kept, filtered by node, in order.
        let first = try await store.append(LedgerEvent(node: "a", kind: .deposit, amount: 100_000_000_000_000, reason: "admin: wire 1", at: 10))
        let second = try await store.append(LedgerEvent(node: "b", kind: .deposit, amount: 5, reason: "admin", at: 11))
        let third = try await store.append(
            LedgerEvent(node: "a", kind: .slash, amount: 7, reason: "failed challenges", evidence: "{\"challenge\":3}", at: 12))
        #expect(first.sequence! < second.sequence! && second.sequence! < third.sequence!)
        #expect(try await store.ledger(node: "a") == [first, third])
        #expect(try await store.ledger(node: nil) == [first, second, third])
        #expect(try await store.ledger(node: "nobody").isEmpty)

        // Content is immutable: a second registration of an id is refused.
        let content = ContentRecord(id: "title", manifest: "{\"id\":\"title\"}", sealedKey: "c2VhbGVk", createdAt: 50)
        try await store.saveContent(content)
        await #expect { try await store.saveContent(ContentRecord(id: "title", manifest: "{}", sealedKey: "x", createdAt: 51)) } throws: {
            ($0 as? StoreFailure)?.code == .duplicate
        }
        #expect(try await store.content(id: "title") == content)
        #expect(try await store.content(id: "other") == nil)
        #expect(try await store.contentIDs() == ["title"])

        // Live titles: one per id, never a published title's id; the stream key rotates and the
        // title ends only while it is live.
        let live = LiveRecord(id: "show", sealedKey: "c2VhbGVk", streamKeyHash: "h1", latitude: 48.5, longitude: -2.25, createdAt: 70)
        try await store.saveLive(live)
        await #expect { try await store.saveLive(live) } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        await #expect { try await store.saveLive(LiveRecord(id: "title", sealedKey: "x", streamKeyHash: "h", latitude: 0, longitude: 0, createdAt: 71)) } throws: {
            ($0 as? StoreFailure)?.code == .duplicate
        }
        #expect(try await store.live(id: "show") == live)
        #expect(try await store.live(id: "title") == nil)
        #expect(try await store.rotateStreamKey(id: "show", hash: "h2"))
        #expect(try await !store.rotateStreamKey(id: "nothing", hash: "h2"))
        let streaming = try await store.liveTitles(limit: 10)
        #expect(streaming.map(\.id) == ["show"] && streaming.map(\.live) == [true])
        #expect(try await store.endLive(id: "show", at: 80))
        #expect(try await store.liveTitles(limit: 10).map(\.live) == [false])
        #expect(try await store.liveTitles(limit: 0).isEmpty)
        #expect(try await !store.endLive(id: "show", at: 81))
        #expect(try await !store.rotateStreamKey(id: "show", hash: "h3"))
        var ended = live
        ended.streamKeyHash = "h2"
        ended.state = .ended
        ended.endedAt = 80
        #expect(try await store.live(id: "show") == ended)

        // Tasks: one of each kind per node and title, increasing sequence numbers, polled by
        // cursor, listed by title, completed once.
        let hosting = try #require(try await store.addTask(TaskRecord(node: "a", content: "title", kind: .hosting, createdAt: 60)))
        #expect(try await store.addTask(TaskRecord(node: "a", content: "title", kind: .hosting, createdAt: 61)) == nil)
        let delivery = try #require(try await store.addTask(TaskRecord(node: "a", content: "title", kind: .delivery, createdAt: 62)))
        let other = try #require(try await store.addTask(TaskRecord(node: "b", content: "title", kind: .transcoding, createdAt: 63)))
        #expect(hosting.sequence! < delivery.sequence! && delivery.sequence! < other.sequence!)
        #expect(try await store.tasks(node: "a", after: 0) == [hosting, delivery])
        #expect(try await store.tasks(node: "a", after: hosting.sequence!) == [delivery])
        #expect(try await store.tasks(content: "title").count == 3)
        #expect(try await store.tasks(content: "other").isEmpty)
        #expect(try await store.completeTask(node: "a", content: "title", kind: .hosting, at: 70))
        #expect(try await store.completeTask(node: "a", content: "title", kind: .hosting, at: 80))
        #expect(try await !store.completeTask(node: "b", content: "title", kind: .hosting, at: 70))
        #expect(try await store.tasks(node: "a", after: 0).first?.doneAt == 70)

        // Claims: saved with their batches; a claim taken in its session refuses the whole save.
        let c1 = ClaimRecord(id: "c1", node: "a", content: "title", session: "s1", bytes: 100, acceptedAt: 90, receipt: "{\"r\":1}")
        // c1 as stored before receipts were kept by batch; c2 with its batch.
        let c2 = ClaimRecord(
            id: "c2", node: "b", content: "title", session: "s1", bytes: 50, acceptedAt: 91, segments: 2, ttfbMilliseconds: 15, firstAt: 85,
            lastAt: 90,
            batch: "b1", leaf: 0)
        let b1 = ReceiptBatch(id: "b1", acceptedAt: 91, root: "ab", signature: "sig", leaves: "AAAA")
        #expect(try await store.newestClaimedSession() == nil)
        try await store.saveClaims([c1, c2], batches: [b1])
        #expect(try await store.newestClaimedSession() == "s1")
        func key(_ claim: ClaimRecord) -> SessionClaim.Key { SessionClaim.Key(session: claim.session, id: claim.id) }
        #expect(try await store.receiptBatches(ids: ["b1", "b2"]) == [b1])
        #expect(try await store.claims(keys: [key(c2)]) == [c2])
        #expect(
            Set(
                try await store.claims(keys: [
                    key(c1), key(c2), SessionClaim.Key(session: "s1", id: "nope"), SessionClaim.Key(session: "s9", id: "c1"),
                ]).map(\.id)) == ["c1", "c2"])
        #expect(try await store.claims(node: "a") == [c1])
        #expect(
            Set(try await store.sessionClaims(sessions: ["s1", "s2"])) == [
                SessionClaim(session: "s1", id: "c1", node: "a", bytes: 100), SessionClaim(session: "s1", id: "c2", node: "b", bytes: 50),
            ])
        #expect(try await store.sessionTotals(ids: ["s1", "s2"]) == [SessionTotal(id: "s1", bytes: 150, edges: ["a", "b"])])
        let c3 = ClaimRecord(id: "c3", node: "a", content: "title", session: "s2", bytes: 1, acceptedAt: 92, receipt: "{}")
        let b2 = ReceiptBatch(id: "b2", acceptedAt: 92, root: "cd", signature: "sig", leaves: "AAAA")
        await #expect { try await store.saveClaims([c3, c1], batches: [b2]) } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        #expect(try await store.receiptBatches(ids: ["b2"]).isEmpty)
        // The same for claims written together: one taken, nothing of the round written.
        var c4 = c2
        c4.id = "c4"
        await #expect { try await store.saveClaims([c4, c2], batches: []) } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        #expect(try await store.claims(keys: [key(c4), key(c3)]).isEmpty)
        #expect(try await store.sessionTotals(ids: ["s2"]).isEmpty)
        #expect(try await store.claims(keys: []).isEmpty)
        // Rounds written together: each batch keeps its claims' lines; every field comes back.
        func line(_ id: String, node: String, leaf: Int, batch: String, at: Int64) -> ClaimRecord {
            ClaimRecord(
                id: id, node: node, content: "title_2-x", session: "1700000000-0123456789abcdef-\(id)", bytes: Int64(1000 + leaf), acceptedAt: at,
                segments: leaf + 1, ttfbMilliseconds: 20 + leaf, firstAt: at - 30, lastAt: at - 1, batch: batch, leaf: leaf)
        }
        let b3 = ReceiptBatch(id: "b3", acceptedAt: 93, root: "ef", signature: "sig", leaves: "AAAA")
        let b4 = ReceiptBatch(id: "b4", acceptedAt: 94, root: "12", signature: "sig", leaves: "AAAA")
        let round = [
            line("c5", node: "a", leaf: 0, batch: "b3", at: 93), line("c6", node: "b", leaf: 1, batch: "b3", at: 94),
            line("c7", node: "a", leaf: 0, batch: "b4", at: 94),
        ]
        try await store.saveClaims(round.reversed(), batches: [b3, b4])
        #expect(try await store.claims(keys: round.map(key).reversed()).sorted { $0.id < $1.id } == round.sorted { $0.id < $1.id })
        #expect(try await store.claims(node: "a") == [c1, round[0], round[2]])
        #expect(try await store.claims(node: "b") == [c2, round[1]])
        #expect(try await store.receiptBatches(ids: ["b3", "b4"]).count == 2)
        await #expect { try await store.saveClaims([line("c5", node: "a", leaf: 0, batch: "b5", at: 95)], batches: []) } throws: {
            ($0 as? StoreFailure)?.code == .duplicate
        }
        // The same id in another session is another claim.
        var elsewhere = line("c5", node: "a", leaf: 0, batch: "b6", at: 95)
        elsewhere.session = "1700000001-0123456789abcdef-other"
        try await store.saveClaims([elsewhere], batches: [ReceiptBatch(id: "b6", acceptedAt: 95, root: "34", signature: "sig", leaves: "AAAA")])
        #expect(try await store.claims(keys: [key(elsewhere)]) == [elsewhere])
        // One batch's claims given out of leaf order: lines in leaf order all the same.
        let backwards = [line("c8", node: "d", leaf: 0, batch: "b7", at: 96), line("c9", node: "d", leaf: 1, batch: "b7", at: 96)]
        try await store.saveClaims(backwards.reversed(), batches: [ReceiptBatch(id: "b7", acceptedAt: 96, root: "56", signature: "sig", leaves: "AAAA")])
        #expect(try await store.claims(keys: backwards.map(key)).sorted { $0.id < $1.id } == backwards)
        #expect(try await store.newestClaimedSession() == "s1")

        // Challenges: open until settled once; overdue ones expire as offline.
        let ch1 = ChallengeRecord(id: "ch1", node: "a", content: "title", segment: 1, chunk: 2, issuedAt: 100, deadline: 110)
        let ch2 = ChallengeRecord(id: "ch2", node: "a", content: "title", segment: 0, chunk: 0, issuedAt: 101, deadline: 111)
        try await store.addChallenge(ch1)
        try await store.addChallenge(ch2)
        #expect(try await store.challenge(id: "ch1") == ch1)
        #expect(try await store.openChallenges(node: "a") == [ch1, ch2])
        #expect(try await store.settleChallenge(id: "ch1", outcome: .pass, at: 105))
        #expect(try await !store.settleChallenge(id: "ch1", outcome: .fail, at: 106))
        #expect(try await store.expireChallenges(deadlineBefore: 110).isEmpty)
        let expired = try await store.expireChallenges(deadlineBefore: 112)
        #expect(expired.map(\.id) == ["ch2"] && expired.first?.outcome == .offline)
        #expect(try await store.openChallenges(node: "a").isEmpty)
        #expect(try await store.settledChallenges(node: "a", since: 0).map { $0.outcome } == [.pass, .offline])
        #expect(try await store.settledChallenges(node: "a", since: 101).map(\.id) == ["ch2"])

        // Capacity probes: handed over once, settled once, expired when unanswered.
        let p1 = ProbeRecord(id: "p1", node: "a", seed: "00", parts: 8, bits: 16, claimedCores: 4, issuedAt: 100, deadline: 110)
        let p2 = ProbeRecord(id: "p2", node: "a", seed: "01", parts: 8, bits: 16, claimedCores: 4, issuedAt: 101, deadline: 111)
        try await store.addProbe(p1)
        try await store.addProbe(p2)
        #expect(try await store.probe(id: "p1") == p1)
        try await store.deliverProbe(id: "p1", atMillis: 100_500)
        try await store.deliverProbe(id: "p1", atMillis: 109_000)
        #expect(try await store.openProbes(node: "a").map(\.deliveredMillis) == [100_500, nil])
        #expect(try await store.settleProbe(id: "p1", outcome: .pass, answeredMillis: 102_000, measuredCores: 3.5))
        #expect(try await !store.settleProbe(id: "p1", outcome: .fail, answeredMillis: 103_000, measuredCores: 0))
        let expiredProbes = try await store.expireProbes(deadlineBefore: 112)
        #expect(expiredProbes.map(\.id) == ["p2"] && expiredProbes.first?.outcome == .offline && expiredProbes.first?.measuredCores == 0)
        #expect(try await store.openProbes(node: "a").isEmpty)
        #expect(try await store.settledProbes(node: "a", since: 0).map(\.measuredCores) == [3.5, 0])
        #expect(try await store.settledProbes(node: "a", since: 101).map(\.id) == ["p2"])

        // Transcode reports: once per (node, title, rendition, segment); decided once; only
        // passed and unsampled ones earn; a liar's are voided.
        let t1 = TranscodeReport(
            node: "a", content: "title", rendition: "360p", segment: 0, bytes: 1000, sha256: "aa", reportedAt: 100, status: .sampled)
        let t2 = TranscodeReport(
            node: "a", content: "title", rendition: "360p", segment: 1, bytes: 2000, sha256: "bb", reportedAt: 101, status: .unsampled, decidedAt: 101
        )
        let t3 = TranscodeReport(
            node: "b", content: "title", rendition: "360p", segment: 0, bytes: 1000, sha256: "aa", reportedAt: 102, status: .sampled)
        #expect(try await store.addTranscodes([t1, t2, t3]) == 3)
        var again = t1
        again.bytes = 5
        #expect(try await store.addTranscodes([again]) == 0)
        #expect(try await store.transcodes(status: .sampled, limit: 10) == [t1, t3])
        #expect(try await store.transcodes(status: .sampled, limit: 1) == [t1])
        #expect(try await store.transcodes(node: "a", limit: 10) == [t2, t1])
        #expect(try await store.transcodes(node: "a", limit: 1) == [t2])
        #expect(try await store.transcodes(content: "title", limit: 10) == [t3, t2, t1])
        #expect(try await store.transcodes(content: "nothing", limit: 10).isEmpty)
        #expect(try await store.decideTranscode(t1, status: .passed, at: 105))
        #expect(try await !store.decideTranscode(t1, status: .failed, at: 106))
        #expect(try await store.decideTranscode(t3, status: .failed, at: 105))
        #expect(try await store.earningTranscodes(decidedFrom: 100, to: 106).map(\.segment) == [0, 1])
        #expect(try await store.earningTranscodes(decidedFrom: 102, to: 106).map(\.status) == [.passed])
        #expect(try await store.forfeitTranscodes(node: "a", since: 104) == 1)
        #expect(try await store.earningTranscodes(decidedFrom: 100, to: 106).map(\.segment) == [1])

        // Revenue and epochs: revenue stops at settlement; an epoch settles once.
        #expect(try await store.firstRevenueEpoch() == nil)
        let r1 = try await store.addRevenue(RevenueEntry(epoch: 7, source: .ads, amount: 100, reason: "ads", at: 1))
        _ = try await store.addRevenue(RevenueEntry(epoch: 8, source: .tokenFees, amount: 5, reason: "fees", at: 2))
        #expect(r1.sequence != nil)
        #expect(try await store.revenue(epoch: 7) == [r1])
        #expect(try await store.firstRevenueEpoch() == 7)
        #expect(try await store.claims(acceptedFrom: 90, to: 91) == [c1])
        #expect(try await store.claims(acceptedFrom: 91, to: 94).map(\.id) == ["c2", "c5"])
        #expect(try await store.claims(acceptedFrom: 94, to: 96).map(\.id) == ["c6", "c7", "c5"])
        let settled = EpochRecord(epoch: 7, pool: 30, carry: 1, settledAt: 3, report: "{}")
        try await store.saveEpoch(settled)
        await #expect { try await store.saveEpoch(settled) } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        await #expect { try await store.addRevenue(RevenueEntry(epoch: 7, source: .ads, amount: 1, reason: "late", at: 4)) } throws: {
            ($0 as? StoreFailure)?.code == .duplicate
        }
        #expect(try await store.epoch(7) == settled)
        #expect(try await store.epoch(8) == nil)
        #expect(try await store.epochs(limit: 10) == [settled])
        try await store.close()

        // What was written is there for the next process.
        let reopened = try await open()
        try await reopened.migrate()
        #expect(try await reopened.node(id: "a") == moved)
        #expect(try await reopened.ledger(node: nil).count == 3)
        #expect(try await reopened.content(id: "title") == content)
        #expect(try await reopened.tasks(content: "title").count == 3)
        #expect(try await reopened.claims(node: "b").map(\.id) == ["c2", "c6"])
        try await reopened.close()
    }
}

@Suite("Coordinator storage: one conformance suite for SQLite and PostgreSQL", .serialized)
struct StoreConformanceTests {
    @Test("SQLite (a file, GRDB)")
    func sqlite() async throws {
        let dir = TemporaryDirectory("sqlite-store")
        defer { dir.remove() }
        try await StoreConformance.run { try SQLiteStore(path: dir.path + "/coordinator.sqlite") }
    }

    @Test("generations of waiting index rows written between saves: every claim refused twice meanwhile, all indexed and summed once written")
    func claimIndexGenerations() async throws {
        let dir = TemporaryDirectory("sqlite-claim-generations")
        defer { dir.remove() }
        let path = dir.path + "/coordinator.sqlite"
        // 40 rows make a generation, written 4 at a time: 30 saves of 10 claims make several,
        // written while later saves go on.
        let store = try SQLiteStore(path: path, claimIndexRows: 40)
        try await store.migrate()
        func claim(_ save: Int, _ index: Int) -> ClaimRecord {
            ClaimRecord(
                id: String(format: "%032x", save * 100 + index), node: "edge-\(index % 3)", content: "title",
                session: "1700000000-0123456789abcdef-\(String(format: "%032x", (index * 7919 + save) % 13))", bytes: Int64(save * 100 + index),
                acceptedAt: 90, segments: 1, ttfbMilliseconds: 5, firstAt: 80, lastAt: 89, batch: "b\(save)", leaf: index)
        }
        var all: [ClaimRecord] = []
        for save in 0..<30 {
            let claims = (0..<10).map { claim(save, $0) }
            try await store.saveClaims(claims, batches: [ReceiptBatch(id: "b\(save)", acceptedAt: 90, root: "ab", signature: "s", leaves: "AA")])
            all += claims
            // Any claim saved so far is refused again, whether it waits, is in a generation or written.
            let again = all[(save * 37) % all.count]
            await #expect {
                try await store.saveClaims(
                    [
                        ClaimRecord(
                            id: again.id, node: again.node, content: again.content, session: again.session, bytes: 1, acceptedAt: 90, segments: 1,
                            ttfbMilliseconds: 5, firstAt: 80, lastAt: 89, batch: "x\(save)", leaf: 0)
                    ],
                    batches: [ReceiptBatch(id: "x\(save)", acceptedAt: 90, root: "ab", signature: "s", leaves: "AA")])
            } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        }
        await store.generationsWritten()
        // The generations are in the table before anything reads it (a read writes the rest).
        let early = try DatabaseQueue(path: path)
        #expect(try await early.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM session_claims") } ?? 0 >= 200)
        try early.close()
        let keys = all.map { SessionClaim.Key(session: $0.session, id: $0.id) }
        #expect(try await store.storedClaims(keys: keys).count == 300)
        let sums = Dictionary(grouping: all, by: \.session).mapValues { $0.reduce(0) { $0 + $1.bytes } }
        let totals = try await store.sessionTotals(ids: Array(sums.keys))
        #expect(Dictionary(uniqueKeysWithValues: totals.map { ($0.id, $0.bytes) }) == sums)
        try await store.close()
        // Opened again: the same, and every row in the table once.
        let reopened = try SQLiteStore(path: path)
        try await reopened.migrate()
        #expect(try await reopened.storedClaims(keys: keys).count == 300)
        try await reopened.close()
        let file = try DatabaseQueue(path: path)
        #expect(try await file.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM session_claims") } == 300)
        try file.close()
    }

    @Test("the filter that spares saves their look-ups: no key added is ever missed, and about 1 in 100 others is a false alarm")
    func keyFilter() {
        var filter = KeyFilter(capacity: 10_000)
        func key(_ index: Int) -> SQLiteClaimIndex.WaitingRows.Key {
            SQLiteClaimIndex.WaitingRows.Key(
                session: "1700000000-0123456789abcdef-\(String(format: "%032x", index / 3))", id: String(format: "%032x", index))
        }
        for index in 0..<10_000 { filter.insert(key(index)) }
        #expect(filter.isFull)
        #expect((0..<10_000).allSatisfy { filter.mayContain(key($0)) })
        let falseAlarms = (10_000..<110_000).filter { filter.mayContain(key($0)) }.count
        #expect(falseAlarms < 3_000, "\(falseAlarms) of 100,000")
    }

    @Test("a claim stored before is refused again while the filter of stored keys fills up and begins anew, and after the store is opened again")
    func claimFilterRestarts() async throws {
        let dir = TemporaryDirectory("sqlite-claim-filter")
        defer { dir.remove() }
        let path = dir.path + "/coordinator.sqlite"
        // 20 rows make a generation (rows wait over several saves): the filter holds 8 keys,
        // then 16, 32, 64, 64, ..., and begins again each time with the newest session in the
        // table as its floor and the rows waiting in it.
        func claim(_ index: Int, batch: String, leaf: Int = 0) -> ClaimRecord {
            // Sessions issued later and later, as they are, some again from before: most come
            // after the floor, some not.
            ClaimRecord(
                id: String(format: "%032x", index), node: "edge", content: "title",
                session: "\(1_700_000_000 + index - (index % 5 == 0 ? 40 : 0))-0123456789abcdef-\(String(format: "%032x", index % 17))", bytes: 1,
                acceptedAt: 90,
                segments: 1, ttfbMilliseconds: 5, firstAt: 80, lastAt: 89, batch: batch, leaf: leaf)
        }
        func save(_ claims: [ClaimRecord], in store: SQLiteStore, batch: String) async throws {
            try await store.saveClaims(claims, batches: [ReceiptBatch(id: batch, acceptedAt: 90, root: "ab", signature: "s", leaves: "AA")])
        }
        var store = try SQLiteStore(path: path, claimIndexRows: 20, filterKeys: 8)
        try await store.migrate()
        var saved = 0
        for round in 0..<100 {
            try await save((saved..<saved + 3).map { claim($0, batch: "b\(round)", leaf: $0 - saved) }, in: store, batch: "b\(round)")
            saved += 3
            if round % 25 == 24 {
                await store.generationsWritten()
                for index in 0..<saved {
                    await #expect(throws: StoreFailure.self, "claim \(index) of \(saved)") {
                        try await save([claim(index, batch: "x\(round)-\(index)")], in: store, batch: "x\(round)-\(index)")
                    }
                }
            }
            if round == 49 {
                try await store.close()
                store = try SQLiteStore(path: path, claimIndexRows: 20, filterKeys: 8)
                try await store.migrate()
            }
        }
        #expect(
            try await store.storedClaims(
                keys: (0..<saved).map { SessionClaim.Key(session: claim($0, batch: "").session, id: claim($0, batch: "").id) }
            ).count == saved)
        try await store.close()
    }

    @Test("claims whose session_claims rows were still waiting when the process died are indexed again from their lines when the file is opened")
    func claimIndexAfterCrash() async throws {
        let dir = TemporaryDirectory("sqlite-claim-index")
        defer { dir.remove() }
        let path = dir.path + "/coordinator.sqlite"
        func claim(_ id: String, leaf: Int, batch: String) -> ClaimRecord {
            ClaimRecord(
                id: id, node: "a", content: "title", session: "1700000000-0123456789abcdef-\(id)", bytes: 10, acceptedAt: 90, segments: 1,
                ttfbMilliseconds: 5, firstAt: 80, lastAt: 89, batch: batch, leaf: leaf)
        }
        func key(_ claim: ClaimRecord) -> SessionClaim.Key { SessionClaim.Key(session: claim.session, id: claim.id) }
        // Rows are written when 3 wait: after the second save a task writes the first three,
        // a row at a time; the third save's row still waits when the process dies.
        let dying = try SQLiteStore(path: path, claimIndexRows: 3)
        try await dying.migrate()
        let saves = [["c1", "c2"], ["c3"], ["c4"]].enumerated().map { batch, ids in
            (
                ids.enumerated().map { claim($1, leaf: $0, batch: "b\(batch)") },
                ReceiptBatch(id: "b\(batch)", acceptedAt: 90, root: "ab", signature: "s", leaves: "AA")
            )
        }
        for (claims, batch) in saves { try await dying.saveClaims(claims, batches: [batch]) }
        await dying.generationsWritten()
        // A claim waiting or written is refused twice, in the same save or another.
        for id in ["c1", "c3", "c4"] {
            await #expect { try await dying.saveClaims([claim(id, leaf: 0, batch: "b9")], batches: []) } throws: {
                ($0 as? StoreFailure)?.code == .duplicate
            }
            await #expect {
                try await dying.saveClaims(
                    [claim(id, leaf: 0, batch: "b9")], batches: [ReceiptBatch(id: "b9", acceptedAt: 90, root: "ab", signature: "s", leaves: "AA")])
            } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        }
        await #expect {
            try await dying.saveClaims(
                [claim("c6", leaf: 0, batch: "b8"), claim("c6", leaf: 1, batch: "b8")],
                batches: [ReceiptBatch(id: "b8", acceptedAt: 90, root: "ab", signature: "s", leaves: "AA")])
        } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        let written = try DatabaseQueue(path: path)
        #expect(try await written.read { db in try String.fetchAll(db, sql: "SELECT id FROM session_claims ORDER BY id") } == ["c1", "c2", "c3"])
        try written.close()
        // `dying` is never closed: its waiting rows are lost with it, as in kill -9.
        let store = try SQLiteStore(path: path)
        try await store.migrate()
        let all = saves.flatMap(\.0)
        #expect(try await store.storedClaims(keys: all.map(key)).count == 4)
        #expect(try await store.claims(keys: all.map(key)).sorted { $0.id < $1.id } == all)
        #expect(try await store.sessionTotals(ids: all.map(\.session)).map(\.bytes) == [10, 10, 10, 10])
        await #expect { try await store.saveClaims([claim("c4", leaf: 0, batch: "b7")], batches: []) } throws: {
            ($0 as? StoreFailure)?.code == .duplicate
        }
        try await store.close()
        // (`dying` goes unclosed: closing would write its waiting rows, as a clean stop does.)
    }

    /// Makes an SQLite file at `path` as a coordinator of `schema` left it, with the rows
    /// `fill` writes.
    static func oldDatabase(at path: String, schema: Int, _ fill: @escaping @Sendable (Database) throws -> Void) async throws {
        let old = try DatabaseQueue(path: path)
        try await old.write { db in
            try db.execute(sql: "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            for migration in Schema.migrations where migration.version <= schema {
                for statement in Schema.statements(migration.statements, for: .sqlite) { try db.execute(sql: statement) }
                try db.execute(sql: "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 1)", arguments: [migration.version])
            }
            try fill(db)
        }
        try old.close()
    }

    @Test("a database of schema 10 keeps its challenges and probes through migration 11, which puts their deadlines in one table")
    func upgradeFromSchema10() async throws {
        let dir = TemporaryDirectory("sqlite-upgrade-deadlines")
        defer { dir.remove() }
        let path = dir.path + "/coordinator.sqlite"
        try await Self.oldDatabase(at: path, schema: 10) { db in
            try db.execute(
                sql: """
                    INSERT INTO challenges (id, node_id, content_id, segment, chunk, issued_at, deadline, outcome, answered_at)
                    VALUES ('ch1', 'a', 'title', 1, 2, 100, 110, 'pass', 105), ('ch2', 'a', 'title', 0, 0, 101, 111, NULL, NULL)
                    """)
            try db.execute(
                sql: """
                    INSERT INTO probes (id, node_id, seed, parts, bits, claimed_cores, issued_at, deadline, delivered_ms, outcome, answered_ms, measured_cores)
                    VALUES ('p1', 'a', '00', 8, 16, 4, 100, 110, 100500, 'pass', 102000, 3.5), ('p2', 'a', '01', 8, 16, 4, 101, 111, NULL, NULL, NULL, NULL)
                    """)
        }
        let store = try SQLiteStore(path: path)
        try await store.migrate()
        #expect(try await store.schemaVersion() == Schema.latest)
        #expect(
            try await store.challenge(id: "ch1")
                == ChallengeRecord(id: "ch1", node: "a", content: "title", segment: 1, chunk: 2, issuedAt: 100, deadline: 110, outcome: .pass, answeredAt: 105))
        #expect(try await store.openChallenges(node: "a").map(\.id) == ["ch2"])
        #expect(try await store.expireChallenges(deadlineBefore: 112).map(\.id) == ["ch2"])
        #expect(try await store.settledChallenges(node: "a", since: 0).map(\.outcome) == [.pass, .offline])
        #expect(
            try await store.probe(id: "p1")
                == ProbeRecord(
                    id: "p1", node: "a", seed: "00", parts: 8, bits: 16, claimedCores: 4, issuedAt: 100, deadline: 110, deliveredMillis: 100_500,
                    outcome: .pass, answeredMillis: 102_000, measuredCores: 3.5))
        #expect(try await store.expireProbes(deadlineBefore: 112).map(\.measuredCores) == [0])
        #expect(try await store.settledProbes(node: "a", since: 0).map(\.id) == ["p1", "p2"])
        try await store.close()
    }

    @Test("a database of schema 8 keeps its claims and sessions through migration 9: ids still refused twice, totals still there")
    func upgradeFromSchema8() async throws {
        let dir = TemporaryDirectory("sqlite-upgrade")
        defer { dir.remove() }
        let path = dir.path + "/coordinator.sqlite"
        try await Self.oldDatabase(at: path, schema: 8) { db in
            try db.execute(
                sql: """
                    INSERT INTO claims (id, node_id, content_id, session_id, bytes, accepted_at, receipt, segments, ttfb_ms, first_at, last_at, batch_id, leaf)
                    VALUES ('old1', 'a', 'title', 's1', 100, 90, '', 1, 10, 80, 89, 'b0', 0)
                    """)
            try db.execute(sql: "INSERT INTO sessions (id, content_id, issued_at, bytes, edges) VALUES ('s1', 'title', 70, 100, 'a')")
        }
        let store = try SQLiteStore(path: path)
        try await store.migrate()
        #expect(try await store.schemaVersion() == Schema.latest)
        #expect(try await store.claims(keys: [SessionClaim.Key(session: "s1", id: "old1")]).map(\.bytes) == [100])
        #expect(try await store.claims(node: "a").map(\.id) == ["old1"])
        #expect(try await store.claims(acceptedFrom: 90, to: 91).map(\.id) == ["old1"])
        #expect(try await store.sessionTotals(ids: ["s1"]) == [SessionTotal(id: "s1", bytes: 100, edges: ["a"])])
        #expect(try await store.newestClaimedSession() == "s1")
        let again = ClaimRecord(id: "old1", node: "a", content: "title", session: "s1", bytes: 1, acceptedAt: 95, receipt: "{}")
        await #expect { try await store.saveClaims([again], batches: []) } throws: { ($0 as? StoreFailure)?.code == .duplicate }
        try await store.close()
    }

    @Test("PostgreSQL (a real server on loopback, postgres-nio)")
    func postgres() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        try await server.createDatabase("conformance")
        try await StoreConformance.run { try PostgresStore(url: server.url(database: "conformance"), timeout: PostgresServer.storeTimeout) }
    }

    @Test("two stores on one PostgreSQL database see each other's writes; concurrent migrations are safe")
    func sharedPostgres() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        try await server.createDatabase("shared")
        let one = try PostgresStore(url: server.url(database: "shared"), timeout: PostgresServer.storeTimeout)
        let two = try PostgresStore(url: server.url(database: "shared"), timeout: PostgresServer.storeTimeout)
        async let a: Void = one.migrate()
        async let b: Void = two.migrate()
        _ = try await (a, b)
        try await one.saveNode(StoreConformance.node("x"))
        #expect(try await two.node(id: "x") == StoreConformance.node("x"))
        #expect(try await one.useNonce(node: "x", nonce: "shared-nonce", at: 1))
        #expect(try await !two.useNonce(node: "x", nonce: "shared-nonce", at: 1))
        try await one.close()
        try await two.close()
    }

    @Test("a bad PostgreSQL URL and an unreachable server are clear errors")
    func badPostgres() async throws {
        #expect { try PostgresStore(url: "mysql://x@y/z") } throws: { "\($0)".contains("is not a postgres://") }
        let store = try PostgresStore(url: "postgres://postgres@127.0.0.1:\(freeLoopbackPort())/none", timeout: .seconds(2))
        await #expect { try await store.migrate() } throws: { ($0 as? StoreFailure)?.code == .unavailable && "\($0)".contains("did not answer") }
        try await store.close()
        #expect { try SQLiteStore(path: "/nonexistent-dir/x/y.sqlite") } throws: { "\($0)".contains("cannot open the SQLite database") }
    }
}
