import Logging
import Recurring
import ServiceLifecycle

/// The coordinator's periodic work, each duty a service of its own on a clock
/// (``RecurringService``), so a slow epoch settlement never delays routability and a failing
/// store read backs off on its own:
///
/// - routability, re-evaluated every second (heartbeats age);
/// - a reload of nodes and stakes from the store every `reloadInterval` seconds, when other
///   coordinators share it (nil: never);
/// - capacity probes, every second (each node's own interval is the prober's);
/// - proof-of-retrievability challenges and transcode audits, every `challengeInterval`
///   seconds (0: never);
/// - hosting repair (replication, lost hosts) and epoch settlement, every five seconds.
enum CoordinatorDuties {
    static let repairInterval: Duration = .seconds(5)

    static func services(
        registry: Registry, board: TaskBoard, challenger: Challenger, prober: CapacityProber, auditor: TranscodeAuditor, epochs: EpochBook,
        challengeInterval: Int, reloadInterval: Double?, logger: Logger
    ) -> [any Service] {
        var duties: [any Service] = [
            RecurringService("routability", every: .seconds(1), logger: logger) { registry.refresh() },
            RecurringService("capacity probes", every: .seconds(1), logger: logger) {
                for probe in try await prober.round() { logger.debug("capacity probe \(probe.id) sent to \(probe.node): \(probe.parts) parts") }
            },
            RecurringService("hosting repair", every: repairInterval, logger: logger) {
                for task in try await board.repair() { logger.info("title \(task.content): new host \(task.node) (replication)") }
            },
            RecurringService("epoch settlement", every: repairInterval, logger: logger) {
                for report in try await epochs.settleDue() {
                    logger.info("epoch \(report.epoch) settled: pool \(report.pool), \(report.payouts.count) miners paid, \(report.carryOut) carried, root \(report.root)")
                }
            },
        ]
        if let reloadInterval, reloadInterval.isFinite, reloadInterval > 0 {
            duties.append(RecurringService("reload from the store", every: .seconds(reloadInterval), logger: logger) { try await registry.reload() })
        }
        if challengeInterval > 0 {
            duties.append(
                RecurringService("challenge round", every: .seconds(challengeInterval), logger: logger) {
                    let issued = try await challenger.round()
                    if !issued.isEmpty { logger.debug("issued \(issued.count) proof-of-retrievability challenges") }
                    try await auditor.round()
                })
        }
        return duties
    }
}
