import ArgumentParser
import Coordinator
import Crypto
import DePINProtocol
import Ed25519
import Foundation

/// `depin bench-receipts`: the coordinator's claim path in-process (used by
/// scripts/bench-receipts): for each signed `POST /v1/claims` body, the node's signature and
/// nonce are checked, the JSON decoded, every claim checked against its session and title, the
/// receipts signed and everything stored in a real SQLite file. Bodies are signed beforehand,
/// as edges would; the coordinator's side is timed, with `concurrency` requests in flight.
struct BenchReceiptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-receipts", abstract: "Measure claims checked and receipts signed per second.", shouldDisplay: false)

    @Option(help: "Claims sent one per signed request.") var single = 4_000
    @Option(help: "Claims sent in batches.") var batched = 100_000
    @Option(help: "Claims per batch.") var batch = 1_000
    @Option(help: "A postgres:// URL to store in (default: a SQLite file in a temporary folder).") var db: String?
    @Option(help: "Requests of one claim in flight at once (edges claiming together: 100,000 edges claiming every 10 s keep about 1,000 in flight).")
    var concurrency = 1024
    @Option(help: "Batched requests in flight at once (64 of 1,000 claims: 64,000 claims in flight).")
    var batchedConcurrency = 64

    func run() async throws {
        let folder = NSTemporaryDirectory() + "depin-bench-receipts-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store: any CoordinatorStore = try db.map { try PostgresStore(url: $0) } ?? SQLiteStore(path: folder + "/coordinator.sqlite")
        try await store.migrate()
        let vault = await KeyVault(identity: NodeIdentity())
        let registry = Registry(store: store)
        let node = NodeIdentity()
        let now = Int64(Date().timeIntervalSince1970)
        try await store.saveNode(
            NodeRecord(
                id: node.id, publicKey: node.publicKey.rawRepresentation.base64EncodedString(), deviceClass: "server", cores: 8, ramGB: 16,
                mbps: 1000,
                gpu: false, diskGB: 1000, ssd: true, latitude: 48.85, longitude: 2.35, url: "https://edge.example", registeredAt: now,
                lastHeartbeat: now))
        try await registry.reload()
        // One long title, so no session reaches its cap.
        let manifest = ContentManifest(
            id: "bench", createdAt: now, segmentSeconds: 4,
            source: .init(
                width: 1920, height: 1080, frameRate: 30, codecs: "avc1.640028", hasAudio: false, bandwidth: 50_000_000, averageBandwidth: 50_000_000,
                video: "copied", audio: nil),
            segments: (0..<100).map {
                .init(
                    index: $0, duration: 4, length: 25_000_000, sha256: String(repeating: "a", count: 64),
                    merkleRoot: String(repeating: "b", count: 64))
            },
            ladder: [], transcode: ContentManifest.defaultTranscodeSettings)
        try await store.saveContent(
            ContentRecord(id: "bench", manifest: String(decoding: try JSONEncoder().encode(manifest), as: UTF8.self), sealedKey: "x", createdAt: now))
        let book = ClaimBook(store: store, vault: vault, registry: registry)

        let verifyRate = Self.ed25519VerificationsPerSecond()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let allCores = await Self.ed25519VerificationsPerSecond(threads: cores)
        let tableRate = Self.ed25519VerificationsPerSecond(tables: true)
        let tableAllCores = await Self.ed25519VerificationsPerSecond(threads: cores, tables: true)
        print("Ed25519 on this machine, swift-crypto (BoringSSL): \(Int(verifyRate)) verifications/s on one core, \(Int(allCores))/s on all \(cores)")
        print(
            "Ed25519 on this machine, the coordinator's verifier (a table per key): \(Int(tableRate))/s on one core, \(Int(tableAllCores))/s on all \(cores) (the ceiling for one claim per signature)"
        )
        for (label, count, size, inFlight) in [
            ("one claim per signature", single, 1, concurrency), ("\(batch) claims per signature", batched, batch, batchedConcurrency),
        ] {
            let requests = try Self.requests(count: count, batchSize: size, node: node, vault: vault, now: now)
            let started = ContinuousClock.now
            let cpuStarted = Self.processCPUSeconds()
            let accepted = try await Self.submit(requests, registry: registry, book: book, concurrency: inFlight)
            let elapsed = ContinuousClock.now - started
            let cpu = Self.processCPUSeconds() - cpuStarted
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            // CPU time per claim varies less than the rate when the machine's speed swings, and
            // says how far the cores were kept busy.
            print(
                String(
                    format: "%@ (%d requests in flight): %d claims, %d receipts in %.3f s: %.0f claims/s (%.1f µs of CPU per claim, %.2f cores busy)",
                    label,
                    inFlight, count, accepted, seconds, Double(count) / seconds, cpu * 1e6 / Double(max(count, 1)), cpu / seconds))
        }
        try await store.close()
    }

    /// Signed request bodies, as edges send them.
    static func requests(count: Int, batchSize: Int, node: NodeIdentity, vault: KeyVault, now: Int64) throws -> [(
        body: Data, headers: [String: String]
    )] {
        var out: [(Data, [String: String])] = []
        var made = 0
        while made < count {
            let size = min(batchSize, count - made)
            let claims = (0..<size).map { _ in
                DeliveryClaim(
                    id: DeliveryClaim.newID(), content: "bench", session: vault.newSession(content: "bench", now: now - 60), bytes: 2_000_000,
                    segments: 1,
                    ttfbMilliseconds: 12, firstAt: now - 50, lastAt: now - 10)
            }
            let body = try JSONEncoder().encode(ClaimBatch(claims: claims))
            let headers = Dictionary(uniqueKeysWithValues: try SignedRequest.headers(identity: node, method: "POST", path: "/v1/claims", body: body))
            out.append((body, headers))
            made += size
        }
        return out
    }

    /// What the API handler does per request, `concurrency` requests at once.
    static func submit(_ requests: [(body: Data, headers: [String: String])], registry: Registry, book: ClaimBook, concurrency: Int) async throws
        -> Int
    {
        let workers = max(1, concurrency)
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var accepted = 0
                    for index in stride(from: worker, to: requests.count, by: workers) {
                        let (body, headers) = requests[index]
                        let batch = try StrictJSON.decode(ClaimBatch.self, from: body, limit: ClaimBatch.maxBytes)
                        let node = try await registry.authenticate(body: body, headers: headers, path: "/v1/claims", onceOnly: false)
                        let answer = try await book.submit(batch.claims, from: node.id)
                        guard answer.refused.isEmpty else { throw ValidationError("a bench claim was refused: \(answer.refused[0].reason)") }
                        accepted += answer.receipts.count
                    }
                    return accepted
                }
            }
            return try await group.reduce(0, +)
        }
    }

    /// CPU time this process has used, all threads, in seconds.
    static func processCPUSeconds() -> Double {
        // clock(): the process's CPU time, every thread's, in CLOCKS_PER_SEC (10^6 on Linux).
        Double(clock()) / Double(CLOCKS_PER_SEC)
    }

    /// Verifications per second on `threads` tasks at once (each one's rate, summed).
    static func ed25519VerificationsPerSecond(threads: Int, tables: Bool = false) async -> Double {
        await withTaskGroup(of: Double.self) { group in
            for _ in 0..<threads { group.addTask { ed25519VerificationsPerSecond(tables: tables) } }
            return await group.reduce(0, +)
        }
    }

    /// One core's rate: swift-crypto's, or with ``Ed25519Verifier``'s table for the key.
    static func ed25519VerificationsPerSecond(tables: Bool = false) -> Double {
        let key = Curve25519.Signing.PrivateKey()
        let message = Data("bench".utf8)
        let signature = try! key.signature(for: message)
        let verifier = Ed25519Verifier()
        let raw = key.publicKey.rawRepresentation
        let started = ContinuousClock.now
        var valid = 0
        for _ in 0..<2000
        where tables ? verifier.isValidSignature(signature, for: message, publicKey: raw) : key.publicKey.isValidSignature(signature, for: message) {
            valid += 1
        }
        let elapsed = ContinuousClock.now - started
        return Double(valid) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
