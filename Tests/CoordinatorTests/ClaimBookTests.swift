import Crypto
import DePINProtocol
import Foundation
import GRDB
import TestSupport
import Testing

@testable import Coordinator

@Suite("Claims into receipts: every check, over a real store")
struct ClaimBookTests {
    /// A store with one 20 MB title at 1 Mbit/s peak, a vault, a registry and a book.
    struct Setup {
        let dir = TemporaryDirectory("claim-book")
        let store: SQLiteStore
        let vault: KeyVault
        let registry: Registry
        let book: ClaimBook
        let clock = TestClock()

        init(policy: ClaimBook.Policy = ClaimBook.Policy()) async throws {
            store = try SQLiteStore(path: dir.path + "/c.sqlite")
            try await store.migrate()
            vault = await KeyVault(identity: NodeIdentity())
            registry = Registry(store: store, now: clock.now)
            book = ClaimBook(store: store, vault: vault, registry: registry, policy: policy, now: clock.now)
            var manifest = TaskBoardTests.manifest("title")
            manifest.segments = (0..<20).map {
                .init(
                    index: $0, duration: 4, length: 1_000_000, sha256: String(repeating: "a", count: 64),
                    merkleRoot: String(repeating: "b", count: 64))
            }
            manifest.source.bandwidth = 1_000_000
            try await store.saveContent(
                ContentRecord(
                    id: "title", manifest: String(decoding: try JSONEncoder().encode(manifest), as: UTF8.self), sealedKey: "x", createdAt: 0))
        }

        func claim(_ session: String, bytes: Int64, at offset: Int64 = 60, content: String = "title") -> DeliveryClaim {
            DeliveryClaim(
                id: DeliveryClaim.newID(), content: content, session: session, bytes: bytes, segments: 1, ttfbMilliseconds: 20,
                firstAt: clock.now() - offset, lastAt: clock.now())
        }
    }

    @Test("session MACs made in two SHA-256 passes are HMAC-SHA256: RFC 4231's case 2, and swift-crypto's HMAC for random keys and messages")
    func sessionMACIsHMAC() async throws {
        func mac(_ key: SymmetricKey, _ message: [UInt8]) -> [UInt8] {
            let (inner, outer) = KeyVault.hmacStates(key: key)
            return message.withUnsafeBytes { Array(KeyVault.hmac($0, inner: inner, outer: outer)) }
        }
        #expect(
            JSONText.hex(mac(SymmetricKey(data: Array("Jefe".utf8)), Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 200] {
            let key = SymmetricKey(size: .bits256)
            let message = (0..<length).map { _ in UInt8.random(in: 0...255) }
            #expect(mac(key, message) == Array(HMAC<SHA256>.authenticationCode(for: message, using: key)))
        }
        // A session is accepted for its title only, and not once altered.
        let vault = await KeyVault(identity: NodeIdentity())
        let session = vault.newSession(content: "title", now: 1_700_000_000)
        #expect(vault.checkedSession(session, content: "title")?.issued == 1_700_000_000)
        #expect(vault.checkedSession(session, content: "other") == nil)
        let altered = String(session.dropLast()) + (session.hasSuffix("0") ? "1" : "0")
        #expect(vault.checkedSession(altered, content: "title") == nil)
    }

    @Test("claim ids and session keys: 32 lowercase hex digits read as a number and written back; anything else is refused")
    func hexKeys() {
        for _ in 0..<100 {
            let value = UInt128(UInt64.random(in: .min ... .max)) << 64 | UInt128(UInt64.random(in: .min ... .max))
            #expect(UInt128.fromHex(value.hex.utf8) == value && UInt128.fromHex(Array(value.hex.utf8)) == value)
        }
        #expect(UInt128.fromHex("0123456789abcdef0123456789abcdef".utf8) == 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
        for bad in [
            "0123456789ABCDEF0123456789abcdef", "0123456789abcdef0123456789abcdeg", "0123456789abcdef0123456789abcde", "", "/", ":",
            "0123456789abcdef0123456789abcdef0", String(repeating: "`", count: 32), String(repeating: "g", count: 32),
        ] {
            #expect(UInt128.fromHex(bad.utf8) == nil, "\(bad)")
        }
    }

    @Test("an honest claim gets a receipt that verifies; sent again it gets the same receipt and counts once")
    func honest() async throws {
        let setup = try await Setup()
        defer { setup.dir.remove() }
        let session = setup.vault.newSession(content: "title", now: setup.clock.now())
        setup.clock.advance(300)
        let claim = setup.claim(session, bytes: 2_000_000)
        let first = try await setup.book.submit([claim], from: "edge-a")
        #expect(first.refused.isEmpty && first.receipts.count == 1)
        let receipt = try #require(first.receipts.first)
        #expect(receipt.verifies(with: setup.vault.identity.publicKey) && receipt.bytes == 2_000_000 && receipt.node == "edge-a")
        let again = try await setup.book.submit([claim], from: "edge-a")
        #expect(again.receipts == [receipt] && again.refused.isEmpty)
        #expect(try await setup.store.sessionTotals(ids: [session]).first?.bytes == 2_000_000)
        #expect(try await setup.store.claims(node: "edge-a").count == 1)
    }

    @Test(
        "a coordinator restarted on the same store knows what it accepted before: the same receipt for a resubmission, earlier bytes counted in caps")
    func restart() async throws {
        let setup = try await Setup()
        defer { setup.dir.remove() }
        let old = setup.vault.newSession(content: "title", now: setup.clock.now())
        setup.clock.advance(3000)
        let first = setup.claim(old, bytes: 50_000_000, at: 2900)
        let receipt = try #require(try await setup.book.submit([first], from: "edge-a").receipts.first)
        // A new process: nothing in memory; sessions issued up to the newest stored one are read.
        let book = ClaimBook(store: setup.store, vault: setup.vault, registry: setup.registry, now: setup.clock.now)
        #expect(try await book.submit([first], from: "edge-a").receipts == [receipt])
        let over = try await book.submit([setup.claim(old, bytes: 20_000_000, at: 2900)], from: "edge-b")
        #expect(over.receipts.isEmpty && over.refused.first?.reason.contains("would have 70000000 bytes") == true)
        // A session issued after the newest stored one starts from nothing, and is then known.
        setup.clock.advance(10)
        let fresh = setup.vault.newSession(content: "title", now: setup.clock.now())
        setup.clock.advance(3000)
        let claim = setup.claim(fresh, bytes: 1_000_000, at: 2900)
        let accepted = try await book.submit([claim], from: "edge-a")
        #expect(accepted.receipts.count == 1)
        #expect(try await book.submit([claim], from: "edge-a").receipts == accepted.receipts)
        var altered = claim
        altered.bytes += 1
        #expect(try await book.submit([altered], from: "edge-a").refused.first?.reason.contains("already used") == true)
        #expect(try await setup.store.sessionTotals(ids: [old, fresh]).map(\.bytes).sorted() == [1_000_000, 50_000_000])
    }

    @Test("two coordinators on one PostgreSQL database: each sees the other's claims, so caps and replays hold across them")
    func sharedDatabase() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        try await server.createDatabase("claims")
        let setup = try await Setup()
        defer { setup.dir.remove() }
        let stores = [
            try PostgresStore(url: server.url(database: "claims"), timeout: PostgresServer.storeTimeout),
            try PostgresStore(url: server.url(database: "claims"), timeout: PostgresServer.storeTimeout),
        ]
        try await stores[0].migrate()
        var manifest = TaskBoardTests.manifest("title")
        manifest.segments = (0..<20).map {
            .init(index: $0, duration: 4, length: 1_000_000, sha256: String(repeating: "a", count: 64), merkleRoot: String(repeating: "b", count: 64))
        }
        manifest.source.bandwidth = 1_000_000
        try await stores[0].saveContent(
            ContentRecord(id: "title", manifest: String(decoding: try JSONEncoder().encode(manifest), as: UTF8.self), sealedKey: "x", createdAt: 0))
        let books = stores.map { ClaimBook(store: $0, vault: setup.vault, registry: setup.registry, now: setup.clock.now) }
        let session = setup.vault.newSession(content: "title", now: setup.clock.now())
        setup.clock.advance(3000)
        let first = setup.claim(session, bytes: 50_000_000, at: 2900)
        let receipt = try #require(try await books[0].submit([first], from: "edge-a").receipts.first)
        // The other coordinator: the same receipt for the same claim, the cap counts its bytes.
        #expect(try await books[1].submit([first], from: "edge-a").receipts == [receipt])
        var altered = first
        altered.bytes = 1
        #expect(try await books[1].submit([altered], from: "edge-a").refused.first?.reason.contains("already used") == true)
        let over = try await books[1].submit([setup.claim(session, bytes: 20_000_000, at: 2900)], from: "edge-b")
        #expect(over.refused.first?.reason.contains("would have 70000000 bytes") == true)
        let fits = try await books[1].submit([setup.claim(session, bytes: 5_000_000, at: 2900)], from: "edge-b")
        #expect(fits.receipts.count == 1)
        #expect(
            try await books[0].submit([setup.claim(session, bytes: 6_000_000, at: 2900)], from: "edge-c").refused.first?.reason.contains(
                "would have 61000000") == true)
        #expect(try await stores[0].sessionTotals(ids: [session]) == [SessionTotal(id: session, bytes: 55_000_000, edges: ["edge-a", "edge-b"])])
        for store in stores { try await store.close() }
    }

    @Test("rounds overlap their writes: caps hold across rounds in flight, a batch sent twice at once is counted once, and every receipt is stored")
    func overlappingRounds() async throws {
        let setup = try await Setup()
        defer { setup.dir.remove() }
        // The title is 20 MB; one session may take 3 x 20 MB. Six batches of 100 claims of
        // 200 kB (20 MB each) on one session, sent at once: exactly three fit.
        let session = setup.vault.newSession(content: "title", now: setup.clock.now())
        setup.clock.advance(3000)
        let batches = (0..<6).map { _ in (0..<100).map { _ in setup.claim(session, bytes: 200_000, at: 2900) } }
        let answers = try await withThrowingTaskGroup(of: ClaimAnswer.self) { group in
            for batch in batches { group.addTask { try await setup.book.submit(batch, from: "edge-a") } }
            // The first batch again, at once: the same receipts, counted once.
            group.addTask { try await setup.book.submit(batches[0], from: "edge-a") }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let receipts = Set(answers.flatMap(\.receipts).map(\.claim))
        #expect(receipts.count == 300, "\(receipts.count) distinct claims receipted")
        #expect(answers.allSatisfy { $0.receipts.isEmpty || $0.receipts.count == 100 })
        #expect(try await setup.store.sessionTotals(ids: [session]).first?.bytes == 60_000_000)
        let stored = try await setup.store.claims(node: "edge-a")
        #expect(stored.count == 300 && Set(stored.map(\.id)) == receipts)
        // Each stored claim rebuilds the receipt that was answered.
        let batchesByID = Dictionary(
            uniqueKeysWithValues: try await setup.store.receiptBatches(ids: Array(Set(stored.compactMap(\.batch)))).map { ($0.id, $0) })
        let answered = Dictionary(answers.flatMap(\.receipts).map { ($0.claim, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(stored.allSatisfy { $0.receipt(in: $0.batch.flatMap { batchesByID[$0] }) == answered[$0.id] })
    }

    @Test(
        "replays, altered claims, forged sessions, inflation, impossible speed, too many edges, bad times and slashed edges are refused with a reason"
    )
    func refusals() async throws {
        var policy = ClaimBook.Policy()
        policy.maxEdgesPerSession = 2
        let setup = try await Setup(policy: policy)
        defer { setup.dir.remove() }
        let session = setup.vault.newSession(content: "title", now: setup.clock.now())
        setup.clock.advance(600)
        let honest = setup.claim(session, bytes: 1_000_000)
        _ = try await setup.book.submit([honest], from: "edge-a")

        func reason(_ claim: DeliveryClaim, from node: String = "edge-a") async throws -> String {
            let answer = try await setup.book.submit([claim], from: node)
            #expect(answer.receipts.isEmpty, "\(claim) was accepted")
            return answer.refused.first?.reason ?? ""
        }
        var altered = honest
        altered.bytes = 5_000_000
        #expect(try await reason(altered).contains("replayed or altered"))
        #expect(try await reason(honest, from: "edge-b").contains("replayed or altered"))
        #expect(try await reason(setup.claim("1800000000-0011223344556677-00112233445566778899aabbccddeeff", bytes: 1)).contains("was not issued"))
        let otherTitle = setup.vault.newSession(content: "other", now: setup.clock.now() - 10)
        #expect(try await reason(setup.claim(otherTitle, bytes: 1)).contains("was not issued by this coordinator for title"))
        #expect(
            try await reason(setup.claim(setup.vault.newSession(content: "ghost", now: setup.clock.now() - 10), bytes: 1, content: "ghost")).contains(
                "no content ghost"))
        // 20 MB title, factor 3: a session may have 60 MB in all.
        #expect(try await reason(setup.claim(session, bytes: 59_500_000)).contains("at most 60000000"))
        // A session just issued: 1 Mbit/s over (0 + 120) s, times 3, allows 45 MB so far.
        let young = setup.vault.newSession(content: "title", now: setup.clock.now())
        #expect(try await reason(setup.claim(young, bytes: 50_000_000, at: 0)).contains("playback allows at most 45000000"))
        // Edges per session.
        #expect(try await setup.book.submit([setup.claim(session, bytes: 1)], from: "edge-b").receipts.count == 1)
        #expect(try await reason(setup.claim(session, bytes: 1), from: "edge-c").contains("already has 2 edges"))
        // Times outside the session's life; nonsense numbers; bad ids; duplicates in a batch.
        #expect(try await reason(setup.claim(session, bytes: 1, at: 3600)).contains("outside session"))
        var future = setup.claim(session, bytes: 1)
        future.lastAt += 10_000
        future.firstAt = future.lastAt
        #expect(try await reason(future).contains("outside session"))
        #expect(try await reason(setup.claim(session, bytes: 0)).contains("bytes must be positive"))
        var badID = setup.claim(session, bytes: 1)
        badID.id = "../x"
        #expect(try await reason(badID).contains("32 lowercase hex"))
        let twice = setup.claim(session, bytes: 1)
        let answer = try await setup.book.submit([twice, twice], from: "edge-a")
        #expect(answer.receipts.count == 1 && answer.refused.first?.reason.contains("sent twice at once") == true)
        // A slashed edge earns nothing.
        for kind in [LedgerEvent.Kind.deposit, .bond] {
            _ = try await setup.registry.record(LedgerEvent(node: "edge-a", kind: kind, amount: 10, reason: "t", at: 1))
        }
        _ = try await setup.registry.record(LedgerEvent(node: "edge-a", kind: .slash, amount: 1, reason: "t", at: 1))
        #expect(try await reason(setup.claim(session, bytes: 1)).contains("slashed"))
    }

    @Test("whatever edges claim, at once or in turn, a session's accepted bytes never pass its cap, and each claim is counted once")
    func capHolds() async throws {
        let setup = try await Setup()
        defer { setup.dir.remove() }
        let sessions = (0..<4).map { _ in setup.vault.newSession(content: "title", now: setup.clock.now()) }
        setup.clock.advance(3000)
        var generator = SeededRandom(seed: 7)
        let claims = (0..<200).map { _ in
            setup.claim(sessions[Int.random(in: 0..<4, using: &generator)], bytes: Int64.random(in: 1...6_000_000, using: &generator))
        }
        // Five edges submit interleaved batches concurrently, some claims twice.
        let accepted = try await withThrowingTaskGroup(of: [DeliveryReceipt].self) { group in
            for edge in 0..<5 {
                group.addTask {
                    var receipts: [DeliveryReceipt] = []
                    for start in stride(from: edge * 8, to: claims.count, by: 40) {
                        let batch = Array(claims[start..<min(start + 8, claims.count)])
                        receipts += try await setup.book.submit(batch, from: "edge-\(edge)").receipts
                        receipts += try await setup.book.submit(batch, from: "edge-\(edge)").receipts  // resent
                    }
                    return receipts
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let unique = Dictionary(
            accepted.map { ($0.claim, $0) },
            uniquingKeysWith: { first, second in
                #expect(first == second)
                return first
            })
        for session in sessions {
            let bytes = unique.values.filter { $0.session == session }.reduce(Int64(0)) { $0 + $1.bytes }
            #expect(bytes <= 60_000_000)
            #expect(try await setup.store.sessionTotals(ids: [session]).first?.bytes ?? 0 == bytes)
        }
        #expect(try await (0..<5).asyncReduce(0) { $0 + (try await setup.store.claims(node: "edge-\($1)").count) } == unique.count)
    }

    @Test("when a round's write fails, it and every round checked against it answer an error; what was answered is exactly what is stored")
    func failedWrites() async throws {
        let setup = try await Setup()
        defer { setup.dir.remove() }
        let sessions = (0..<3).map { _ in setup.vault.newSession(content: "title", now: setup.clock.now()) }
        setup.clock.advance(3000)
        var generator = SeededRandom(seed: 11)
        let batches = (0..<24).map { _ in
            (0..<50).map { _ in
                setup.claim(sessions[Int.random(in: 0..<3, using: &generator)], bytes: Int64.random(in: 1...400_000, using: &generator))
            }
        }
        // The database refuses three of the claims when they are written (as a disk error or
        // another coordinator's row would), failing their rounds.
        let poisoned = [batches[2][7].id, batches[9][0].id, batches[17][49].id]
        let raw = try DatabaseQueue(path: setup.dir.path + "/c.sqlite")
        try await raw.write { db in
            // Claim ids are hex: safe to write into the statement (triggers take no parameters).
            // A round's claims are lines of its receipt batch row.
            let holds = poisoned.map { "instr(NEW.claims, '\($0)') > 0" }.joined(separator: " OR ")
            try db.execute(sql: "CREATE TRIGGER poison BEFORE INSERT ON receipt_batches WHEN \(holds) BEGIN SELECT RAISE(ABORT, 'poisoned'); END")
        }
        try raw.close()
        let outcomes = await withTaskGroup(of: (Int, ClaimAnswer?).self) { group in
            for (index, batch) in batches.enumerated() {
                group.addTask { (index, try? await setup.book.submit(batch, from: "edge-\(index % 4)")) }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for index in [2, 9, 17] { #expect(outcomes[index] ?? nil == nil, "batch \(index) holds a poisoned claim") }
        let receipted = outcomes.values.compactMap { $0 }.flatMap(\.receipts)
        #expect(receipted.allSatisfy { receipt in !poisoned.contains(receipt.claim) })
        var stored: [ClaimRecord] = []
        for edge in 0..<4 { stored += try await setup.store.claims(node: "edge-\(edge)") }
        #expect(Set(stored.map(\.id)) == Set(receipted.map(\.claim)))
        for session in sessions {
            let bytes = stored.filter { $0.session == session }.reduce(Int64(0)) { $0 + $1.bytes }
            #expect(try await setup.store.sessionTotals(ids: [session]).first?.bytes ?? 0 == bytes)
        }
        // Nothing of a failed round was kept: sent again (without the poison), it is accepted.
        let retry = batches[2].filter { !poisoned.contains($0.id) }
        let answer = try await setup.book.submit(retry, from: "edge-2")
        #expect(answer.receipts.count + answer.refused.count == retry.count)
        #expect(answer.refused.allSatisfy { $0.reason.contains("would have") })
    }
}

extension Sequence {
    func asyncReduce<Result>(_ initial: Result, _ next: (Result, Element) async throws -> Result) async rethrows -> Result {
        var result = initial
        for element in self { result = try await next(result, element) }
        return result
    }
}

extension ClaimBookTests {
    @Test("a live title (no manifest until its recording) earns receipts as it streams, capped at the live bitrate over the time it has streamed and the session's wall time; a title neither published nor live is refused")
    func liveTitle() async throws {
        var policy = ClaimBook.Policy()
        policy.liveBitrate = 8_000_000  // 1 MB/s
        policy.bufferSeconds = 0
        let setup = try await Setup(policy: policy)
        defer { setup.dir.remove() }
        let began = setup.clock.now()
        try await setup.store.saveLive(
            LiveRecord(id: "show", sealedKey: "x", streamKeyHash: "y", state: .live, latitude: 0, longitude: 0, createdAt: began, endedAt: nil))
        let session = setup.vault.newSession(content: "show", now: began)
        setup.clock.advance(100)
        // 100 s at 1 MB/s, times 3: 300 MB at most, delivered no faster than that.
        let fine = try await setup.book.submit([setup.claim(session, bytes: 250_000_000, content: "show")], from: "edge-a")
        #expect(fine.receipts.count == 1 && fine.refused.isEmpty, "\(fine.refused)")
        let over = try await setup.book.submit([setup.claim(session, bytes: 60_000_000, content: "show")], from: "edge-a")
        #expect(over.receipts.isEmpty && over.refused.first?.reason.contains("at most 300000000") == true, "\(over.refused)")
        setup.clock.advance(100)
        let later = try await setup.book.submit([setup.claim(session, bytes: 60_000_000, content: "show")], from: "edge-a")
        #expect(later.receipts.count == 1, "100 s later the stream and the session are longer: \(later.refused)")

        let stranger = setup.vault.newSession(content: "nothing", now: setup.clock.now())
        let refused = try await setup.book.submit([setup.claim(stranger, bytes: 1000, content: "nothing")], from: "edge-a")
        #expect(refused.refused.first?.reason == "no content nothing")
    }
}
