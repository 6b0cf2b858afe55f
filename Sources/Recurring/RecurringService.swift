import Logging
import ServiceLifecycle

/// Work done every ``interval`` on a clock, as a `Service` of its own: each of the
/// coordinator's periodic duties (routability, reloads, probes, challenges, repair, epochs) and
/// the edge's claims is one, so one's slowness or failure never delays another.
///
/// The first round runs after one interval. Each wait is the interval plus a random share of
/// it up to ``jitter``, so that many processes started together spread their rounds. A round
/// that throws is logged and the next waits for a ``Backoff`` instead (half an interval to one
/// after the first failure, doubling up to ten intervals); a success returns to the interval.
/// Stops on cancellation or graceful shutdown, between rounds.
package struct RecurringService<C: Clock>: Service where C.Duration == Duration {
    package let name: String
    package let interval: Duration
    /// The largest random share of ``interval`` added to each wait (0: none).
    package var jitter = 0.1
    package let clock: C
    package let logger: Logger
    package let round: @Sendable () async throws -> Void

    package init(
        _ name: String, every interval: Duration, jitter: Double = 0.1, clock: C, logger: Logger, round: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.jitter = max(0, jitter)
        self.clock = clock
        self.logger = logger
        self.round = round
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Backoff(base: interval, cap: interval * 10)
            var failing = false
            while !Task.isCancelled {
                let wait = failing ? backoff.next() : interval + interval * Double.random(in: 0...jitter)
                do { try await clock.sleep(for: wait) } catch { return }
                do {
                    try await round()
                    failing = false
                    backoff.reset()
                } catch {
                    // Stopping: whatever the round was waiting for failed because of it.
                    if Task.isCancelled { return }
                    failing = true
                    logger.warning("\(name) failed: \(error); trying again after a backoff")
                }
            }
        }
    }
}

extension RecurringService where C == ContinuousClock {
    package init(_ name: String, every interval: Duration, jitter: Double = 0.1, logger: Logger, round: @escaping @Sendable () async throws -> Void) {
        self.init(name, every: interval, jitter: jitter, clock: ContinuousClock(), logger: logger, round: round)
    }
}
