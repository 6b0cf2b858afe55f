import DePINProtocol
import Foundation
import Logging
import NIOCore
import Recurring
import ServiceLifecycle

extension CoordinatorAgent {
    /// The long poll for tasks, challenges and probes.
    struct TaskPolling: Service {
        let agent: CoordinatorAgent
        let standing: Standing

        func run() async throws {
            await cancelWhenGracefulShutdown { await loop() }
        }

        private func loop() async {
            let (link, logger, assignments, pollWait) = (agent.link, agent.logger, agent.assignments, agent.pollWait)
            let registered = Wakeup()
            var backoff = Backoff(base: CoordinatorAgent.retry.base, cap: CoordinatorAgent.retry.cap)
            var cursor: Int64 = 0
            var answered: Set<String> = []
            // After a failed poll the next one asks without waiting: an answer lost on the way may
            // have held a challenge, which must not wait for a long poll to end.
            var catchUp = false
            while !Task.isCancelled {
                await standing.waitUntilRegistered(registered)
                let reports = assignments.takeReports()
                let request = TaskPollRequest(after: cursor, wait: reports.isEmpty && !catchUp ? pollWait : 0, hosted: reports)
                do {
                    let answer = try await withThrowingTaskGroup(of: TaskPollAnswer?.self) { group in
                        group.addTask { try await link.post("/v1/tasks", request, as: TaskPollAnswer.self, timeout: .seconds(Int64(pollWait) + 15)) }
                        if reports.isEmpty {
                            // A title finished meanwhile: stop waiting and report it.
                            group.addTask {
                                await assignments.waitForReports()
                                return nil
                            }
                        }
                        defer { group.cancelAll() }
                        return try await group.next()!
                    }
                    guard let answer else { continue }
                    catchUp = false
                    backoff.reset()
                    if !reports.isEmpty { logger.info("reported to the coordinator: hosting \(reports.joined(separator: ", "))") }
                    cursor = answer.cursor
                    assignments.apply(answer) { agent.hosted.isComplete($0) }
                    for challenge in answer.challenges ?? [] where !answered.contains(challenge.id) {
                        answered.insert(challenge.id)
                        await agent.respond(to: challenge)
                    }
                    for probe in answer.probes ?? [] where !answered.contains(probe.id) {
                        answered.insert(probe.id)
                        // Seconds of work on every core: the poll goes on meanwhile.
                        Task { await agent.respond(to: probe) }
                    }
                    if answered.count > 10_000 { answered = [] }
                } catch {
                    assignments.restore(reports)
                    catchUp = true
                    if Task.isCancelled { return }
                    let wait = backoff.next()
                    logger.warning("task poll at \(link.base): \(error); retrying in \(wait)")
                    do { try await Task.sleep(for: wait) } catch { return }
                }
            }
        }
    }

    /// Copies the titles this edge is to host from the hosts that hold them.
    struct HostingCopies: Service {
        let agent: CoordinatorAgent

        func run() async throws {
            await cancelWhenGracefulShutdown { await loop() }
        }

        private func loop() async {
            let (assignments, logger) = (agent.assignments, agent.logger)
            let copier = HostingCopier(store: agent.hosted, client: agent.peers)
            var backoff = Backoff(base: .seconds(1), cap: .seconds(30))
            while !Task.isCancelled {
                guard let (content, sources) = assignments.nextCopy() else {
                    await assignments.waitForCopies()
                    continue
                }
                do {
                    try await copier.copy(content, from: sources)
                    assignments.hosted(content)
                    backoff.reset()
                    logger.info("hosting \(content): copied from \(sources.urls.joined(separator: ", "))")
                } catch {
                    assignments.copyFailed(content)
                    let wait = backoff.next()
                    logger.warning("hosting \(content): copy failed (\(error)); retrying in \(wait)")
                    do { try await Task.sleep(for: wait) } catch { return }
                }
            }
        }
    }

    /// Turns what viewers were delivered into claims every ``CoordinatorAgent/claimInterval``,
    /// and reports the rendition segments this edge made.
    struct DeliveryClaims: Service {
        let agent: CoordinatorAgent
        let standing: Standing

        func run() async throws {
            await cancelWhenGracefulShutdown { await loop() }
            // Shutting down: what was delivered since the last claim is kept for the next start.
            do { try agent.journal.add(agent.ledger.drain()) } catch { agent.logger.warning("could not keep the last delivery claims: \(error)") }
        }

        private func loop() async {
            let interval = agent.claimInterval
            var backoff = Backoff(base: interval, cap: interval * 6)
            var wait = interval
            while !Task.isCancelled {
                do { try await Task.sleep(for: wait) } catch { return }
                do {
                    try agent.journal.add(agent.ledger.drain())
                } catch {
                    agent.logger.error("delivery claims could not be written to \(agent.journal.directory): \(error)")
                }
                wait = interval + interval * Double.random(in: 0...0.1)
                guard standing.isRegistered else { continue }
                if await sendClaims() { backoff.reset() } else { wait = backoff.next() }
                await reportTranscodes()
            }
        }

        /// Sends every unanswered claim in batches; false when the coordinator could not be
        /// reached (the rest are kept and sent again later).
        private func sendClaims() async -> Bool {
            let (link, logger, journal) = (agent.link, agent.logger, agent.journal)
            var pending = journal.unanswered[...]
            while !pending.isEmpty, !Task.isCancelled {
                let batch = Array(pending.prefix(ClaimBatch.maxClaims))
                pending = pending.dropFirst(batch.count)
                do {
                    let answer = try await link.post("/v1/claims", ClaimBatch(claims: batch), as: ClaimAnswer.self, timeout: .seconds(30))
                    try journal.settle(answer)
                    let bytes = answer.receipts.reduce(Int64(0)) { $0 + $1.bytes }
                    agent.status.noteClaims(receipts: answer.receipts.count, bytes: bytes, refused: answer.refused.map(\.reason))
                    logger.info("claims: \(answer.receipts.count) receipts (\(bytes) bytes), \(answer.refused.count) refused\(answer.refused.first.map { ": \($0.reason)" } ?? "")")
                } catch {
                    logger.warning("claims to \(link.base): \(error); kept, sent again later")
                    return false
                }
            }
            return true
        }

        /// Sends the rendition segments made since the last report; kept when the coordinator
        /// is unreachable.
        private func reportTranscodes() async {
            let (link, logger, tally) = (agent.link, agent.logger, agent.tally)
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
    }
}
