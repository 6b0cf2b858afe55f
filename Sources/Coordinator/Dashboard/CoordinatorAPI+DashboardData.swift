import DePINProtocol
import Foundation

/// The figures behind the dashboard's pages and its JSON (`GET /v1/dashboard...`): read from
/// the same store, registry and policies as the rest of the API, with the same code
/// (``NodeView``, ``EpochSummary``, ``EpochReport/explanation(of:)``, ``PayoutExplanation``).
/// Reading only: nothing here writes. What every page needs alike (the last 24 hours of
/// receipted traffic, settled reports) comes through ``DashboardMemo``; the rest is bounded
/// (the newest rows of a node's or a title's history, counted in full where the page says "in
/// all").
extension CoordinatorAPI {
    /// The whole store (the API's own handle on it is narrower).
    private var records: any CoordinatorStore { epochs.store }

    /// How many settled epochs the pages show, and how many rows of a history.
    static let dashboardEpochs = 10
    static let dashboardRows = 50

    func networkView(now: Int64) async throws -> NetworkView {
        let nodes = registry.statuses().map { status in
            NodeSummary(
                id: status.node.id, deviceClass: status.node.deviceClass, latitude: status.node.latitude, longitude: status.node.longitude,
                routed: status.refusal == nil, reason: status.refusal, bonded: status.stake.bonded, slashed: status.stake.slashed,
                lastHeartbeat: status.node.lastHeartbeat, load: status.node.load, viewers: registry.audience(of: status.node.id)?.estimate() ?? 0)
        }
        let traffic = try await recentTraffic(now: now)
        var titles: [TitleSummary] = []
        for live in try await records.liveTitles(limit: Self.dashboardRows) where live.live {
            titles.append(TitleSummary(id: live.id, kind: "live", hosts: try await hostsNow(of: live.id).count, watching: watching(live.id)))
        }
        for id in try await records.contentIDs() {
            titles.append(TitleSummary(id: id, kind: "published", hosts: try await hostsNow(of: id).count, watching: watching(id)))
        }
        let totals = NetworkTotals(
            nodes: nodes.count, routable: nodes.filter(\.routed).count, bondedStake: nodes.reduce(0) { $0 + $1.bonded },
            deliveredBytes24h: traffic.bytes, receipts24h: traffic.receipts, titles: titles.count, titlesHosted: titles.filter { $0.hosts > 0 }.count)
        return NetworkView(at: now, nodes: nodes, totals: totals, titles: titles, epochs: try await epochSummaries(limit: Self.dashboardEpochs))
    }

    /// Nil for a node the coordinator does not know.
    func nodePage(_ id: String, now: Int64) async throws -> NodePageView? {
        guard let view = try await nodeView(id, now: now) else { return nil }
        var known = registry.known(id)
        if known == nil { known = try await records.node(id: id) }
        guard let record = known else { return nil }
        let balance = registry.ledger.remembered(id)
        let bond =
            DeviceClass.named(record.deviceClass).map { deviceClass in
                deviceClass.stakeShortfall(bonded: balance.bonded)
                    ?? "\(DeviceClass.dhb(balance.bonded)) DHB bonded: enough for class \(deviceClass.name) (\(DeviceClass.dhb(deviceClass.stake)) DHB)"
            } ?? "unknown class \(record.deviceClass)"
        let ledger = try await records.ledger(node: id).map {
            LedgerEntry(kind: $0.kind.rawValue, amount: $0.amount, reason: $0.reason, evidence: $0.evidence, at: $0.at)
        }
        let challenges = try await records.settledChallenges(node: id, since: now - challenger.policy.window)
        let transcodes = try await records.transcodes(node: id, limit: Self.dashboardRows)
        let probes = try await records.settledProbes(node: id, since: now - prober.policy.window)
        let best = CapacityPolicy.best(of: probes)
        var warnings: [String] = []
        if let standing = view.standing { warnings.append(standing) }
        if let capacity = view.capacity { warnings.append(capacity) }
        if let reports = view.viewerReports, reports.recent > 0 {
            warnings.append("\(reports.recent) viewer sessions reported this edge failing lately\(reports.lastReason.map { " (last: \($0))" } ?? "")")
        }
        for slash in ledger where slash.kind == LedgerEvent.Kind.slash.rawValue {
            warnings.append("slashed \(DeviceClass.dhb(slash.amount)) DHB: \(slash.reason)")
        }
        var allowed: [TaskAllowed] = []
        for task in DeviceClass.named(record.deviceClass)?.tasks ?? [] {
            allowed.append(TaskAllowed(task: task.rawValue, refusal: try await registry.status(of: id, for: task)?.refusal))
        }
        let tasks = try await records.tasks(node: id, after: 0)
        return NodePageView(
            at: now, node: view, tasksAllowed: allowed.sorted { $0.task < $1.task }, ramGB: record.ramGB, mbpsClaimed: record.mbps,
            registeredAt: record.registeredAt, coresCounted: prober.policy.credited(claimed: record.cores, best: best), bond: bond,
            ledger: Array(ledger.suffix(Self.dashboardRows).reversed()), traffic: try await recentTraffic(now: now).node(id),
            challenges: Self.counts(challenges.map { $0.outcome?.rawValue ?? "open" }),
            recentChallenges: challenges.suffix(20).reversed().map {
                ChallengeEntry(
                    content: $0.content, segment: $0.segment, chunk: $0.chunk, issuedAt: $0.issuedAt, answeredAt: $0.answeredAt,
                    outcome: $0.outcome?.rawValue ?? "open", reason: Self.meaning($0.outcome))
            },
            recentTranscodes: transcodes.map {
                TranscodeEntry(
                    content: $0.content, rendition: $0.rendition, segment: $0.segment, bytes: $0.bytes, reportedAt: $0.reportedAt, status: $0.status.rawValue,
                    reason: Self.meaning($0.status))
            },
            probes: probes.suffix(10).reversed().map { ProbeEntry(issuedAt: $0.issuedAt, outcome: $0.outcome?.rawValue ?? "open", measuredCores: $0.measuredCores) },
            warnings: warnings, taskCount: tasks.count, tasks: tasks.suffix(Self.dashboardRows).reversed().map(TaskEntry.init),
            payouts: try await payouts(of: id))
    }

    /// Nil for a title the coordinator does not know (published or live).
    func titlePage(_ id: String, now: Int64) async throws -> TitlePageView? {
        let title = try await epochs.catalog.title(id)
        let live = title == nil ? try await records.live(id: id) : nil
        guard title != nil || live != nil else { return nil }
        let tasks = try await records.tasks(content: id)
        let hosts = tasks.filter { $0.kind == .hosting }
        var copies: [ReplicaPoint] = []
        for (count, done) in hosts.compactMap(\.doneAt).sorted().enumerated() { copies.append(ReplicaPoint(at: done, hosts: count + 1)) }
        let traffic = try await recentTraffic(now: now)
        var made: [String: RenditionMade] = [:]
        let reports = try await records.transcodes(content: id, limit: Self.dashboardRenditionReports)
        for report in reports {
            let key = report.rendition + "\u{0}" + report.node
            var entry = made[key] ?? RenditionMade(rendition: report.rendition, node: report.node, segments: 0, bytes: 0, statuses: [:])
            entry.segments += 1
            entry.bytes += report.bytes
            entry.statuses[report.status.rawValue, default: 0] += 1
            made[key] = entry
        }
        let manifest = title?.manifest
        return TitlePageView(
            at: now, id: id, kind: title != nil ? "published" : (live?.state == .live ? "live" : "live, ended"), bytes: title?.bytes, bitrate: title?.bitrate,
            seconds: manifest.map { $0.segments.reduce(0) { $0 + $1.duration } },
            source: manifest.map { "\($0.source.width)×\($0.source.height), \(String(format: "%.2f", $0.source.frameRate)) fps, \($0.source.codecs)" },
            ladder: manifest?.ladder.map(\.name) ?? [], hosts: hosts.map(TaskEntry.init), hostsNow: try await hostsNow(of: id), copies: copies,
            deliveries: tasks.filter { $0.kind == .delivery }.map(TaskEntry.init), transcoders: tasks.filter { $0.kind == .transcoding }.map(TaskEntry.init),
            demand: traffic.content(id), sessions24h: traffic.sessionsByContent[id] ?? 0, watchingNow: registry.watching(id),
            renditions: made.values.sorted { ($0.rendition, $0.node) < ($1.rendition, $1.node) },
            renditionsCapped: reports.count == Self.dashboardRenditionReports)
    }

    /// Viewers of `content` now, over every edge (estimated: ``Audience``).
    private func watching(_ content: String) -> Int { registry.watching(content).values.reduce(0, +) }

    /// How many of a title's newest transcode reports its page sums.
    static let dashboardRenditionReports = 10_000

    /// `GET /v1/nodes/{id}`'s answer: registration, stake, routing, reputation, measured cores
    /// and viewers' reports.
    func nodeView(_ id: String, now: Int64) async throws -> NodeView? {
        guard let status = try await registry.status(of: id) else { return nil }
        var view = NodeView(status)
        (view.reputation, view.standing) = try await challenger.reputation(of: id)
        (view.coresMeasured, view.capacity) = try await prober.standing(of: id)
        view.viewerReports = viewers.reports(for: id, now: now)
        view.viewers = registry.audience(of: id)?.estimate()
        view.viewerCapacity = registry.viewerCapacity(of: status.node)
        return view
    }

    /// `GET /v1/epochs`' lines: the newest settled epochs, newest first.
    func epochSummaries(limit: Int) async throws -> [EpochSummary] {
        try await records.epochs(limit: limit).compactMap { dashboardMemo.report($0).map(EpochSummary.init) }
    }

    /// The last 24 hours of receipted traffic, scanned at most every ``DashboardMemo/trafficSeconds``.
    private func recentTraffic(now: Int64) async throws -> DashboardMemo.Traffic {
        try await dashboardMemo.traffic(now: now) { from, to in try await records.claims(acceptedFrom: from, to: to) }
    }

    /// The miner's payout in each of the newest settled epochs it worked in, checked against
    /// the signed root with this coordinator's own key.
    private func payouts(of miner: String) async throws -> [PayoutEntry] {
        var out: [PayoutEntry] = []
        for record in try await records.epochs(limit: Self.dashboardEpochs) {
            guard let explanation = dashboardMemo.report(record)?.explanation(of: miner) else { continue }
            let check = PayoutExplanation.check(explanation, key: vault.identity.publicKey)
            out.append(
                PayoutEntry(
                    epoch: explanation.epoch, amount: explanation.amount, points: explanation.points, explanation: explanation,
                    lines: PayoutExplanation.terms(explanation) + [PayoutExplanation.proofLine(explanation, check)],
                    proofValid: check.inTree == nil ? nil : check.valid))
        }
        return out
    }

    /// Hosts of a title that hold a whole copy (their hosting task is done) and may host now.
    private func hostsNow(of content: String) async throws -> [String] {
        try await records.tasks(content: content).filter { $0.kind == .hosting && $0.doneAt != nil && registry.eligible($0.node, for: .hosting) != nil }
            .map(\.node)
    }

    static func counts(_ outcomes: [String]) -> OutcomeCounts {
        OutcomeCounts(counts: outcomes.reduce(into: [:]) { $0[$1, default: 0] += 1 }, total: outcomes.count)
    }

    static func meaning(_ outcome: ChallengeRecord.Outcome?) -> String {
        switch outcome {
        case .pass: "answered with the chunk the title's Merkle root proves"
        case .fail: "answered with bytes the title's Merkle root does not prove"
        case .late: "answered after the deadline"
        case .offline: "no answer by the deadline"
        case nil: "waiting for an answer"
        }
    }

    static func meaning(_ status: TranscodeReport.Status) -> String {
        switch status {
        case .sampled: "held for an audit"
        case .unsampled: "not sampled: earns as reported"
        case .passed: "audited: the coordinator's own encode matched"
        case .failed: "audited: the coordinator's own encode differed"
        case .forfeit: "voided: this node failed an audit since"
        }
    }
}

extension TaskEntry {
    init(_ task: TaskRecord) {
        self.init(node: task.node, content: task.content, kind: task.kind.rawValue, createdAt: task.createdAt, doneAt: task.doneAt)
    }
}

extension EpochSummary {
    init(_ report: EpochReport) {
        self.init(
            epoch: report.epoch, startsAt: report.startsAt, endsAt: report.endsAt, pool: report.pool, paid: report.pool - report.carryOut,
            carryOut: report.carryOut, miners: report.payouts.count, root: report.root)
    }
}
