import DePINProtocol
import Foundation

/// The dashboard's three pages, written from the views the JSON answers carry.
enum DashboardPages {
    typealias P = HTMLPage

    static func network(_ view: NetworkView) -> String {
        let totals = view.totals
        let cards = [
            ("Edges routable", "\(totals.routable) of \(HTMLPage.count(totals.nodes, "edge"))"),
            ("Stake bonded", P.dhb(totals.bondedStake)),
            ("Delivered, last 24 h", "\(P.bytes(totals.deliveredBytes24h)) in \(HTMLPage.count(totals.receipts24h, "receipt"))"),
            ("Titles hosted", "\(totals.titlesHosted) of \(HTMLPage.count(totals.titles, "title"))"),
        ]
        var body = "<h1>The network</h1><div class=\"totals\">"
        body += cards.map { "<div class=\"total\" data-total=\"\(P.escape($0.0))\">\(P.escape($0.0))<b>\(P.escape($0.1))</b></div>" }.joined()
        body += "</div><h2>Edges</h2>"
        body += "<p class=\"legend\">" + DashboardCharts.classColours.sorted { $0.key < $1.key }.map {
            "<span><i class=\"dot\" style=\"background:\($0.value)\"></i>\($0.key)</span>"
        }.joined()
            + "<span>white ring: routable (mobile, which hosts only: may be given hosting)</span><span class=\"bad\">red dashed ring, faded: not routable</span></p>"
        body += DashboardCharts.worldMap(view.nodes)
        body += P.table(
            ["Edge", "Class", "Routed to viewers", "Bonded", "Slashed", "Load", "Viewers now", "Last heartbeat"],
            view.nodes.map { node in
                [
                    P.nodeLink(node.id), P.escape(node.deviceClass), mainTask(node), P.dhb(node.bonded),
                    node.slashed > 0 ? "<span class=\"bad\">\(P.dhb(node.slashed))</span>" : P.dhb(0), P.percent(node.load),
                    HTMLPage.count(node.viewers, "viewer"), P.time(node.lastHeartbeat),
                ]
            }, empty: "no edge has registered yet")
        body += "<h2>Epochs</h2>"
        body += DashboardCharts.bars(
            view.epochs.reversed().map { (label: "epoch \($0.epoch)", unix: nil, value: Double($0.paid), text: "\(P.dhb($0.paid)) paid of \(P.dhb($0.pool))") },
            unit: "DHB paid per epoch", labelEvery: max(1, view.epochs.count / 6))
        body += P.table(
            ["Epoch", "From", "To", "Pool", "Paid", "Carried", "Miners paid", "Merkle root"],
            view.epochs.map {
                [
                    "\($0.epoch)", P.time($0.startsAt), P.time($0.endsAt), P.dhb($0.pool), P.dhb($0.paid), P.dhb($0.carryOut), "\($0.miners)",
                    "<code title=\"\(P.escape($0.root))\">\(P.escape(String($0.root.prefix(16))))…</code>",
                ]
            }, empty: "no epoch has settled yet")
        body += "<h2>Titles</h2>"
        body += P.table(
            ["Title", "Kind", "Hosts with a whole copy", "Watching now"],
            view.titles.map { [P.titleLink($0.id), P.escape($0.kind), HTMLPage.count($0.hosts, "host"), HTMLPage.count($0.watching, "viewer")] },
            empty: "no title is published yet")
        return P.dashboard(title: "Network", body: body, at: view.at)
    }

    static func node(_ view: NodePageView) -> String {
        let node = view.node
        var body = "<h1>Edge <code>\(P.escape(node.id))</code></h1>"
        body += "<p id=\"routing\">\(routing(node.routed, node.reason))</p>"
        body += "<ul class=\"allowed\">" + view.tasksAllowed.map { "<li>\(P.escape($0.task)): \(allowed($0.refusal))</li>" }.joined() + "</ul>"
        if !view.warnings.isEmpty { body += "<ul class=\"warnings\">" + view.warnings.map { "<li>\(P.escape($0))</li>" }.joined() + "</ul>" }
        body += P.facts([
            ("Class", P.escape(node.deviceClass)), ("URL", P.escape(node.url)),
            ("Place", String(format: "%.2f° %@, %.2f° %@", abs(node.latitude), node.latitude < 0 ? "S" : "N", abs(node.longitude), node.longitude < 0 ? "W" : "E")),
            ("Registered", P.time(view.registeredAt)), ("Last heartbeat", P.time(node.lastHeartbeat)), ("Load", P.percent(node.load)),
            ("Viewers now", HTMLPage.count(node.viewers ?? 0, "viewer") + (node.viewerCapacity.map { " of \(HTMLPage.count($0, "viewer")) before routes prefer edges with room" } ?? "")),
            ("Health", node.healthy ? "<span class=\"ok\">healthy</span>" : "<span class=\"bad\">reported unhealthy</span>"),
        ])
        body += "<h2>Stake</h2>"
        body += P.facts([
            ("Deposited", P.dhb(node.stake.deposited)), ("Available", P.dhb(node.stake.available)), ("Bonded", P.dhb(node.stake.bonded)),
            ("Unbonding", P.dhb(node.stake.unbonding)),
            ("Slashed", node.stake.slashed > 0 ? "<span class=\"bad\">\(P.dhb(node.stake.slashed))</span>" : P.dhb(0)), ("Bond", P.escape(view.bond)),
        ])
        body += P.table(
            ["When", "Event", "Amount", "Reason", "Evidence"],
            view.ledger.map {
                [P.time($0.at), P.escape($0.kind), P.dhb($0.amount), P.escape($0.reason), $0.evidence.map { "<code>\(P.escape(String($0.prefix(200))))</code>" } ?? ""]
            })
        body += "<h2>Capacity</h2>"
        body += P.facts([
            ("Cores", "\(node.cores) claimed, \(node.coresMeasured.map { String(format: "%.1f", $0) } ?? "not") measured, \(String(format: "%.1f", view.coresCounted)) counted"),
            ("RAM", String(format: "%.1f GB", view.ramGB)), ("Bandwidth claimed", String(format: "%.1f Mbit/s", view.mbpsClaimed)),
        ])
        body += P.table(
            ["Capacity probe", "Outcome", "Measured"],
            view.probes.map { [P.time($0.issuedAt), P.escape($0.outcome), $0.measuredCores.map { String(format: "%.2f cores", $0) } ?? "–"] },
            empty: "no capacity probe settled lately")
        let delivered = view.traffic.reduce(Int64(0)) { $0 + $1.bytes }, receipts = view.traffic.reduce(0) { $0 + $1.receipts }
        body += "<h2>Traffic with receipts, this hour and the 23 before</h2><p>\(P.bytes(delivered)) in \(HTMLPage.count(receipts, "receipt"))</p>" + P.hourlyChart(view.traffic)
        body += "<h2>Storage challenges, reputation window</h2><p>\(outcomes(view.challenges))\(node.reputation.map { String(format: "; reputation %.2f of 1", $0) } ?? "")</p>"
        body += P.table(
            ["Issued", "Title", "Segment, chunk", "Outcome", "Why"],
            view.recentChallenges.map {
                [P.time($0.issuedAt), P.titleLink($0.content), "segment \($0.segment), chunk \($0.chunk)", outcome($0.outcome), P.escape($0.reason)]
            })
        body += "<h2>Transcode audits, the newest \(view.recentTranscodes.count)</h2><p>\(outcomes(CoordinatorAPI.counts(view.recentTranscodes.map(\.status))))</p>"
        body += P.table(
            ["Reported", "Title", "Rendition, segment", "Size", "Status", "Meaning"],
            view.recentTranscodes.map {
                [P.time($0.reportedAt), P.titleLink($0.content), "\(P.escape($0.rendition)) segment \($0.segment)", P.bytes($0.bytes), outcome($0.status), P.escape($0.reason)]
            })
        body += "<h2>Tasks: \(HTMLPage.count(view.taskCount, "task")) given\(view.taskCount > view.tasks.count ? ", the newest \(view.tasks.count) here" : "")</h2>" + tasks(view.tasks, first: "Title")
        body += "<h2>Payouts</h2>"
        if view.payouts.isEmpty { body += "<p class=\"empty\">no settled epoch counted work by this edge yet</p>" }
        for payout in view.payouts {
            body += "<section class=\"payout\" data-epoch=\"\(payout.epoch)\"><h3>Epoch \(payout.epoch): \(P.dhb(payout.amount)), "
            body += String(format: "%.4f points", payout.points)
            switch payout.proofValid {
            case true?: body += " <span class=\"ok\">proof valid</span>"
            case false?: body += " <span class=\"bad\">proof not valid</span>"
            case nil: body += " (no payout, so no proof)"
            }
            body += "</h3><pre class=\"explain\">\(P.escape(payout.lines.joined(separator: "\n")))</pre></section>"
        }
        return P.dashboard(title: "Edge \(node.id.prefix(12))", body: body, at: view.at)
    }

    static func title(_ view: TitlePageView) -> String {
        var body = "<h1>Title <code>\(P.escape(view.id))</code></h1>"
        var facts = [("Kind", P.escape(view.kind))]
        if let source = view.source { facts.append(("Source", P.escape(source))) }
        if let seconds = view.seconds { facts.append(("Length", String(format: "%.1f s", seconds))) }
        if let bytes = view.bytes { facts.append(("Size", P.bytes(bytes))) }
        if let bitrate = view.bitrate { facts.append(("Peak bitrate", String(format: "%.2f Mbit/s", Double(bitrate) / 1e6))) }
        if !view.ladder.isEmpty { facts.append(("Ladder", P.escape(view.ladder.joined(separator: ", ")))) }
        body += P.facts(facts)
        body += "<h2>Hosts: \(view.hostsNow.count) hold a whole copy and may host now</h2>" + tasks(view.hosts, first: "Edge", doneHeading: "Whole copy since", now: view.hostsNow)
        body += "<h2>Whole copies made over time</h2><p class=\"empty\">a host lost later still counts here; the table above says which hold it now</p>"
        body += DashboardCharts.steps(view.copies.map { ($0.at, $0.hosts) }, until: view.at, unit: "copies made")
        let delivered = view.demand.reduce(Int64(0)) { $0 + $1.bytes }
        let watching = view.watchingNow.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
        body += "<h2>Watching now: \(HTMLPage.count(watching.reduce(0) { $0 + $1.value }, "viewer"))</h2>"
        body += P.table(["Edge", "Viewers"], watching.map { [P.nodeLink($0.key), HTMLPage.count($0.value, "viewer")] }, empty: "no edge reports viewers of it now")
        body += "<h2>Demand, this hour and the 23 before</h2><p>\(P.bytes(delivered)) delivered to \(HTMLPage.count(view.sessions24h, "viewer session"))</p>" + P.hourlyChart(view.demand)
        body += "<h2>Renditions made, and where</h2>"
        if view.renditionsCapped { body += "<p class=\"warn\">summed over the newest \(CoordinatorAPI.dashboardRenditionReports) reports</p>" }
        body += P.table(
            ["Rendition", "Edge", "Segments", "Size", "Audits"],
            view.renditions.map {
                [
                    P.escape($0.rendition), P.nodeLink($0.node), HTMLPage.count($0.segments, "segment"), P.bytes($0.bytes),
                    P.escape($0.statuses.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")),
                ]
            }, empty: "no edge has reported a rendition of this title")
        body += "<h2>Transcoding tasks</h2>" + tasks(view.transcoders, first: "Edge")
        body += "<h2>Delivery tasks</h2>" + tasks(view.deliveries, first: "Edge")
        return P.dashboard(title: "Title \(view.id)", body: body, at: view.at)
    }

    /// Whether a node is given its class's main work: viewers, or hosting for a class that
    /// only hosts.
    private static func mainTask(_ node: NodeSummary) -> String {
        guard DeviceClass.named(node.deviceClass)?.tasks.contains(.delivery) == false else { return routing(node.routed, node.reason) }
        return node.routed ? "<span class=\"ok\">may host (hosts only)</span>" : "<span class=\"bad\">may not host: \(P.escape(node.reason ?? "unknown"))</span>"
    }

    private static func routing(_ routed: Bool, _ reason: String?) -> String {
        routed ? "<span class=\"ok\">routed to viewers</span>" : "<span class=\"bad\">not routed: \(P.escape(reason ?? "unknown"))</span>"
    }

    private static func allowed(_ refusal: String?) -> String {
        refusal.map { "<span class=\"bad\">not given: \(P.escape($0))</span>" } ?? "<span class=\"ok\">given</span>"
    }

    private static func outcome(_ text: String) -> String {
        let good = ["pass", "passed", "unsampled"].contains(text), bad = ["fail", "failed", "late", "offline", "forfeit"].contains(text)
        return "<span class=\"\(good ? "ok" : bad ? "bad" : "warn")\">\(P.escape(text))</span>"
    }

    private static func outcomes(_ counts: OutcomeCounts) -> String {
        guard counts.total > 0 else { return "none yet" }
        return "\(counts.total) in all: " + counts.counts.sorted { $0.key < $1.key }.map { "\($0.value) \(outcome($0.key))" }.joined(separator: ", ")
    }

    /// A table of tasks; with `now`, a column saying whether each host holds a copy now.
    private static func tasks(_ tasks: [TaskEntry], first: String, doneHeading: String = "Done", now: [String]? = nil) -> String {
        P.table(
            [first, "Task", "Given", doneHeading] + (now == nil ? [] : ["Now"]),
            tasks.map { task in
                [
                    first == "Title" ? P.titleLink(task.content) : P.nodeLink(task.node), P.escape(task.kind), P.time(task.createdAt),
                    task.doneAt.map(P.time) ?? "<span class=\"warn\">not yet</span>",
                ] + (now.map { [$0.contains(task.node) ? "<span class=\"ok\">holds it</span>" : "<span class=\"bad\">not hosting now</span>"] } ?? [])
            })
    }
}
