import AsyncHTTPClient
import DePINProtocol
import EdgeCache
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// The edge's side of the coordinator, four loops in one service:
///
/// - **Registration and heartbeats**: learns the coordinator's key (kept in the cache folder,
///   so a restart without the coordinator still checks tokens), registers with a request signed
///   by the node's key, and heartbeats every ``interval``.
/// - **Tasks**: a long poll of `POST /v1/tasks` that keeps ``Assignments`` current (the hosts
///   to fill each title from) and reports hosting tasks done; a finished upload or copy wakes
///   it at once.
/// - **Copies**: hosting tasks for titles that are not whole here are copied from the hosts
///   that hold them.
/// - **Claims**: every ``claimInterval`` what viewers' sessions were delivered becomes claims,
///   written to the ``ClaimJournal`` and sent (`POST /v1/claims`, signed, in batches); the
///   receipts and refusals are kept, unanswered claims sent again until they are answered.
///
/// When the coordinator is unreachable every loop keeps trying and the edge keeps serving what
/// it has.
struct CoordinatorAgent: Service {
    let link: CoordinatorLink
    /// The registration to send; nil until the edge knows its own URL (its listener is up).
    let registration: @Sendable () -> RegistrationRequest?
    let gate: TokenGate
    let cache: MediaCache
    /// The client for other edges (hosting copies), with the upstream timeouts.
    let peers: HTTPClient
    let hosted: HostedStore
    let assignments: Assignments
    let ledger: DeliveryLedger
    let tally: TranscodeTally
    let journal: ClaimJournal
    let keyFile: String
    let logger: Logger
    var interval: Duration = .seconds(10)
    /// Seconds a task poll waits at the coordinator for new tasks (at most ``longestPoll``).
    var pollWait = 25
    /// The longest wait a coordinator grants a task poll, in seconds.
    static let longestPoll = 60
    /// How often delivery is claimed.
    var claimInterval: Duration = .seconds(10)

    private final class Flags: Sendable {
        let registered = Mutex(false)
    }

    func run() async throws {
        if let saved = FileManager.default.contents(atPath: keyFile), saved.count == 32 {
            try? await gate.install(publicKey: saved)
        }
        let flags = Flags()
        assignments.setRefresher { [link, assignments, hosted] in
            guard flags.registered.withLock({ $0 }),
                let answer = try? await link.post("/v1/tasks", TaskPollRequest(after: 0, wait: 0), as: TaskPollAnswer.self)
            else { return }
            assignments.apply(answer) { hosted.isComplete($0) }
        }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await registerAndHeartbeat(flags) }
                group.addTask { await pollTasks(flags) }
                group.addTask { await copyHostedTitles() }
                group.addTask { await claimDeliveries(flags) }
                await group.waitForAll()
            }
        }
        // Shutting down: what was delivered since the last claim is kept for the next start.
        do { try journal.add(ledger.drain()) } catch { logger.warning("could not keep the last delivery claims: \(error)") }
    }

    private func claimDeliveries(_ flags: Flags) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: claimInterval) } catch { return }
            do {
                try journal.add(ledger.drain())
            } catch {
                logger.error("delivery claims could not be written to \(journal.directory): \(error)")
            }
            guard flags.registered.withLock({ $0 }) else { continue }
            var pending = journal.unanswered[...]
            while !pending.isEmpty, !Task.isCancelled {
                let batch = Array(pending.prefix(ClaimBatch.maxClaims))
                pending = pending.dropFirst(batch.count)
                do {
                    let answer = try await link.post("/v1/claims", ClaimBatch(claims: batch), as: ClaimAnswer.self, timeout: .seconds(30))
                    try journal.settle(answer)
                    let bytes = answer.receipts.reduce(Int64(0)) { $0 + $1.bytes }
                    logger.info("claims: \(answer.receipts.count) receipts (\(bytes) bytes), \(answer.refused.count) refused\(answer.refused.first.map { ": \($0.reason)" } ?? "")")
                } catch {
                    logger.warning("claims to \(link.base): \(error); kept, sent again later")
                    break
                }
            }
            await reportTranscodes()
        }
    }

    /// Sends the rendition segments made since the last report; kept when the coordinator is
    /// unreachable.
    private func reportTranscodes() async {
        while !Task.isCancelled {
            let made = tally.take(TranscodeReportBatch.maxReports)
            guard !made.isEmpty else { return }
            do {
                let answer = try await link.post("/v1/transcodes", TranscodeReportBatch(made: made), as: TranscodeReportAnswer.self, timeout: .seconds(30))
                logger.info("transcodes: \(answer.accepted) reported, \(answer.refused.count) refused\(answer.refused.first.map { ": \($0.reason)" } ?? "")")
            } catch let error as AgentError where (400..<500).contains(error.status) {
                logger.warning("transcode reports refused: \(error); dropped")
            } catch {
                tally.restore(made)
                logger.warning("transcode reports to \(link.base): \(error); kept, sent again later")
                return
            }
        }
    }

    private func registerAndHeartbeat(_ flags: Flags) async {
        var haveFreshKey = false
        while !Task.isCancelled {
            let registered = flags.registered.withLock { $0 }
            do {
                if !haveFreshKey {
                    try await fetchKey()
                    haveFreshKey = true
                }
                if !registered {
                    guard let registration = registration() else {
                        try await Task.sleep(for: .milliseconds(100))
                        continue
                    }
                    _ = try await link.post("/v1/nodes", registration)
                    flags.registered.withLock { $0 = true }
                    logger.info("registered with \(link.base) as node \(link.identity.id)")
                } else {
                    let statistics = cache.statistics
                    let beat = HeartbeatRequest(
                        load: min(1, Double(statistics.fillsInFlight) / 64), freeCacheBytes: Int64(max(0, statistics.capacity - statistics.usedBytes)),
                        healthy: true)
                    _ = try await link.post("/v1/heartbeat", beat)
                }
            } catch let error as AgentError where error.status == 401 && registered {
                logger.warning("the coordinator no longer knows this node (\(error)); registering again")
                flags.registered.withLock { $0 = false }
                continue
            } catch is CancellationError {
                return
            } catch {
                logger.warning("coordinator \(link.base): \(error); serving on, retrying")
            }
            do {
                try await Task.sleep(for: flags.registered.withLock({ $0 }) ? interval : .seconds(2))
            } catch {
                return
            }
        }
    }

    private func pollTasks(_ flags: Flags) async {
        var cursor: Int64 = 0
        var answered: Set<String> = []
        // After a failed poll the next one asks without waiting: an answer lost on the way may
        // have held a challenge, which must not wait for a long poll to end.
        var catchUp = false
        while !Task.isCancelled {
            guard flags.registered.withLock({ $0 }) else {
                do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
                continue
            }
            let reports = assignments.takeReports()
            let request = TaskPollRequest(after: cursor, wait: reports.isEmpty && !catchUp ? pollWait : 0, hosted: reports)
            do {
                let answer = try await withThrowingTaskGroup(of: TaskPollAnswer?.self) { group in
                    group.addTask { try await link.post("/v1/tasks", request, as: TaskPollAnswer.self, timeout: .seconds(Int64(pollWait) + 15)) }
                    if reports.isEmpty {
                        // A title finished meanwhile: stop waiting and report it.
                        group.addTask {
                            while !assignments.hasReports { try await Task.sleep(for: .milliseconds(200)) }
                            return nil
                        }
                    }
                    defer { group.cancelAll() }
                    return try await group.next()!
                }
                guard let answer else { continue }
                catchUp = false
                if !reports.isEmpty { logger.info("reported to the coordinator: hosting \(reports.joined(separator: ", "))") }
                cursor = answer.cursor
                assignments.apply(answer) { hosted.isComplete($0) }
                for challenge in answer.challenges ?? [] where !answered.contains(challenge.id) {
                    answered.insert(challenge.id)
                    await respond(to: challenge)
                }
                for probe in answer.probes ?? [] where !answered.contains(probe.id) {
                    answered.insert(probe.id)
                    // Seconds of work on every core: the poll goes on meanwhile.
                    Task { await respond(to: probe) }
                }
                if answered.count > 10_000 { answered = [] }
            } catch {
                assignments.restore(reports)
                catchUp = true
                if Task.isCancelled { return }
                logger.warning("task poll at \(link.base): \(error); retrying")
                do { try await Task.sleep(for: .seconds(2)) } catch { return }
            }
        }
    }

    /// Answers a capacity probe with the work of every core this machine has.
    private func respond(to probe: WorkProbe) async {
        let started = ContinuousClock.now
        guard let nonces = await probe.solve(threads: ProcessInfo.processInfo.activeProcessorCount, stopAt: Double(probe.deadline)) else {
            logger.warning("capacity probe \(probe.id): malformed, or not done by its deadline; it counts as unanswered")
            return
        }
        do {
            let verdict = try await link.post("/v1/probes", WorkProbeAnswer(id: probe.id, nonces: nonces), as: WorkProbeVerdict.self)
            let cores = String(format: "%.1f", verdict.measuredCores)
            if let standing = verdict.standing {
                logger.warning("capacity probe \(probe.id): \(verdict.outcome), \(cores) cores measured; \(standing)")
            } else {
                logger.info("capacity probe: \(verdict.outcome), \(cores) cores measured (\(probe.parts) parts in \(ContinuousClock.now - started))")
            }
        } catch {
            logger.warning("capacity probe \(probe.id): answer not taken: \(error)")
        }
    }

    /// Answers a proof-of-retrievability challenge with the chunk and its Merkle path.
    private func respond(to challenge: Challenge) async {
        let proof: (data: Data, proof: MerkleProof)
        do {
            proof = try hosted.prove(content: challenge.content, segment: challenge.segment, chunk: challenge.chunk)
        } catch {
            logger.error("challenge \(challenge.id): \(error); it will count as unanswered")
            return
        }
        // An answer the network lost is sent again until the deadline; one the coordinator
        // refused is not.
        while true {
            do {
                let verdict = try await link.post(
                    "/v1/challenges", ChallengeResponse(id: challenge.id, data: proof.data.base64EncodedString(), proof: proof.proof), as: ChallengeVerdict.self)
                if verdict.outcome != "pass" || verdict.standing != nil {
                    logger.warning("challenge \(challenge.id): \(verdict.outcome); \(verdict.standing ?? "reputation \(verdict.reputation)")")
                }
                return
            } catch {
                let refused = (error as? AgentError).map { $0.status < 500 } ?? false
                if refused || Task.isCancelled || Date().timeIntervalSince1970 + 1 >= Double(challenge.deadline) {
                    logger.warning("challenge \(challenge.id): answer not taken: \(error)")
                    return
                }
                logger.info("challenge \(challenge.id): answer not delivered (\(error)); sending it again")
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    private func copyHostedTitles() async {
        let copier = HostingCopier(store: hosted, client: peers)
        while !Task.isCancelled {
            guard let (content, sources) = assignments.nextCopy() else {
                do { try await Task.sleep(for: .milliseconds(500)) } catch { return }
                continue
            }
            do {
                try await copier.copy(content, from: sources)
                assignments.hosted(content)
                logger.info("hosting \(content): copied from \(sources.urls.joined(separator: ", "))")
            } catch {
                assignments.copyFailed(content)
                logger.warning("hosting \(content): copy failed (\(error)); retrying")
                do { try await Task.sleep(for: .seconds(5)) } catch { return }
            }
        }
    }

    private func fetchKey() async throws {
        let response = try await link.client.execute(HTTPClientRequest(url: link.base + "/v1/keys/coordinator"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok,
            let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let key = (json["publicKey"] as? String).flatMap({ Data(base64Encoded: $0) }), key.count == 32
        else { throw AgentError(status: Int(response.status.code), message: "no coordinator key at \(link.base)/v1/keys/coordinator") }
        try await gate.install(publicKey: key)
        let temporary = keyFile + ".tmp"
        if FileManager.default.createFile(atPath: temporary, contents: key) { rename(temporary, keyFile) }
    }
}
