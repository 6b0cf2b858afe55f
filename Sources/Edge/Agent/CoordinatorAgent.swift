import AsyncHTTPClient
import DePINProtocol
import EdgeCache
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Recurring
import ServiceLifecycle
import Synchronization

/// The edge's side of the coordinator, four services that share what it knows of its
/// registration (``services()``):
///
/// - **Registration and heartbeats** (``Registration``): learns the coordinator's key (kept in
///   the cache folder, so a restart without the coordinator still checks tokens), registers with
///   a request signed by the node's key, and heartbeats every ``interval``.
/// - **Tasks** (``TaskPolling``): a long poll of `POST /v1/tasks` that keeps ``Assignments``
///   current (the hosts to fill each title from) and reports hosting tasks done; a finished
///   upload or copy wakes it at once.
/// - **Copies** (``HostingCopies``): hosting tasks for titles that are not whole here are
///   copied from the hosts that hold them, as soon as the poll names them.
/// - **Claims** (``DeliveryClaims``): every ``claimInterval`` what viewers' sessions were
///   delivered becomes claims, written to the ``ClaimJournal`` and sent (`POST /v1/claims`,
///   signed, in batches); the receipts and refusals are kept, unanswered claims sent again until
///   they are answered.
///
/// Nothing polls a flag on a timer: loops wait on ``Wakeup``s. When the coordinator is
/// unreachable each retries after a jittered ``Backoff`` of its own and the edge keeps serving
/// what it has.
struct CoordinatorAgent: Sendable {
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
    /// Where the last heartbeat and receipts are noted for the status page.
    let status: EdgeStatus
    var interval: Duration = .seconds(10)
    /// Seconds a task poll waits at the coordinator for new tasks (at most ``longestPoll``).
    var pollWait = 25
    /// The longest wait a coordinator grants a task poll, in seconds.
    static let longestPoll = 60
    /// How often delivery is claimed.
    var claimInterval: Duration = .seconds(10)
    /// Retries after a failed request to the coordinator: from about a second, up to five.
    static let retry = (base: Duration.seconds(1), cap: Duration.seconds(5))

    /// Whether the coordinator knows this node now, and the loops waiting until it does.
    final class Standing: Sendable {
        private let state = Mutex<(registered: Bool, waiting: [Wakeup])>((false, []))

        var isRegistered: Bool { state.withLock { $0.registered } }

        func set(registered: Bool) {
            let woken = state.withLock { state -> [Wakeup] in
                state.registered = registered
                return registered ? state.waiting : []
            }
            for wakeup in woken { wakeup.signal() }
        }

        /// Returns once the node is registered (or the task is cancelled).
        func waitUntilRegistered(_ wakeup: Wakeup) async {
            state.withLock { state in
                if !state.waiting.contains(where: { $0 === wakeup }) { state.waiting.append(wakeup) }
            }
            while !isRegistered && !Task.isCancelled { await wakeup.wait() }
        }
    }

    /// The four services, sharing one ``Standing``.
    func services() -> [any Service] {
        let standing = Standing()
        assignments.setRefresher { [link, assignments, hosted] in
            guard standing.isRegistered,
                let answer = try? await link.post("/v1/tasks", TaskPollRequest(after: 0, wait: 0), as: TaskPollAnswer.self)
            else { return }
            assignments.apply(answer) { hosted.isComplete($0) }
        }
        return [
            Registration(agent: self, standing: standing), TaskPolling(agent: self, standing: standing), HostingCopies(agent: self),
            DeliveryClaims(agent: self, standing: standing),
        ]
    }

    /// Registers, then heartbeats every ``CoordinatorAgent/interval``; registers again when the
    /// coordinator no longer knows the node.
    struct Registration: Service {
        let agent: CoordinatorAgent
        let standing: Standing

        func run() async throws {
            // The key kept from the last run checks tokens until the coordinator answers.
            if let saved = FileManager.default.contents(atPath: agent.keyFile), saved.count == 32 {
                try? await agent.gate.install(publicKey: saved)
            }
            await cancelWhenGracefulShutdown { await loop() }
        }

        private func loop() async {
            let (link, logger) = (agent.link, agent.logger)
            var haveFreshKey = false
            // A coordinator older than this edge refuses the field with the viewer counts: then the
            // heartbeats go without it.
            var reportsViewers = true
            var backoff = Backoff(base: CoordinatorAgent.retry.base, cap: CoordinatorAgent.retry.cap)
            while !Task.isCancelled {
                let registered = standing.isRegistered
                var wait = agent.interval + agent.interval * Double.random(in: 0...0.1)
                do {
                    if !haveFreshKey {
                        try await agent.fetchKey()
                        haveFreshKey = true
                    }
                    if !registered {
                        guard let registration = agent.registration() else {
                            // The listener is not up yet: it is a matter of milliseconds at start.
                            try await Task.sleep(for: .milliseconds(100))
                            continue
                        }
                        let answer = try await link.post("/v1/nodes", registration)
                        agent.status.noteHeartbeat(answer: Data(answer.readableBytesView))
                        standing.set(registered: true)
                        logger.info("registered with \(link.base) as node \(link.identity.id)")
                    } else {
                        let statistics = agent.cache.statistics
                        var beat = HeartbeatRequest(
                            load: min(1, Double(statistics.fillsInFlight) / 64), freeCacheBytes: Int64(max(0, statistics.capacity - statistics.usedBytes)),
                            healthy: true, viewers: agent.ledger.drainAudience())
                        if !reportsViewers { beat.viewers = nil }
                        let answer: ByteBuffer
                        do {
                            answer = try await link.post("/v1/heartbeat", beat)
                        } catch let error as AgentError where error.status == 400 && error.message.contains("unknown field 'viewers'") && reportsViewers {
                            logger.warning("the coordinator does not take viewer counts (\(error)); heartbeating without them")
                            reportsViewers = false
                            beat.viewers = nil
                            answer = try await link.post("/v1/heartbeat", beat)
                        }
                        agent.status.noteHeartbeat(answer: Data(answer.readableBytesView))
                    }
                    backoff.reset()
                } catch let error as AgentError where error.status == 401 && registered {
                    agent.status.noteHeartbeat(answer: nil, error: "\(error)")
                    logger.warning("the coordinator no longer knows this node (\(error)); registering again")
                    standing.set(registered: false)
                    continue
                } catch is CancellationError {
                    return
                } catch {
                    wait = backoff.next()
                    agent.status.noteHeartbeat(answer: nil, error: "\(error)")
                    logger.warning("coordinator \(link.base): \(error); serving on, retrying in \(wait)")
                }
                do { try await Task.sleep(for: wait) } catch { return }
            }
        }
    }
}
