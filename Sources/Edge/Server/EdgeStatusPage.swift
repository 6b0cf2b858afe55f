import DePINProtocol
import EdgeCache
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The edge's own status page, `GET /status` on its plaintext HTTP listener (loopback by
/// default; `/status.json` is the same figures as JSON): what it serves, its cache's use and hit
/// ratio, fills, transcodes, the titles it hosts and the live rungs it follows, its last
/// heartbeat and what the coordinator thinks of it, with a link to its page on the
/// coordinator's dashboard. Read-only; the figures are the ones `/metrics` exports.
struct EdgeStatusPage: Sendable {
    let status: EdgeStatus
    let deviceClass: String

    /// The figures (the JSON answer; the page is written from it).
    struct View: Encodable {
        var at: Int64
        var startedAt: Int64
        var node: String?
        var deviceClass: String
        var listeners: [String]
        var coordinator: String?
        /// The node's page on the coordinator's dashboard.
        var dashboard: String?
        var requests: [String: Int]
        var bodyBytes: Int
        var cache: MediaCache.Statistics
        /// Look-ups answered without a new fill (hits and joins) per look-up; nil before the first.
        var hitRatio: Double?
        var hosted: [Hosted]
        var liveRungs: [String]
        var transcoded: EdgeStatus.Made
        var heartbeat: EdgeStatus.Heartbeat?
        var claims: EdgeStatus.Claims?

        struct Hosted: Encodable {
            var content: String
            var complete: Bool
        }
    }

    func view(_ responder: EdgeResponder) -> View {
        let s = responder.cache.statistics
        let lookups = s.hits + s.joined + s.misses
        let answered = responder.metrics.answered
        return View(
            at: Int64(Date().timeIntervalSince1970), startedAt: status.startedAt, node: status.node, deviceClass: deviceClass, listeners: status.listeners,
            coordinator: status.coordinator, dashboard: status.coordinator.flatMap { base in status.node.map { "\(base)/dashboard/nodes/\($0)" } },
            requests: Dictionary(uniqueKeysWithValues: answered.byStatus.map { ($0.key == 0 ? "other" : String($0.key), $0.value) }), bodyBytes: answered.bytes,
            cache: s, hitRatio: lookups > 0 ? Double(s.hits + s.joined) / Double(lookups) : nil,
            hosted: responder.hosting?.store.titles().map { View.Hosted(content: $0.content, complete: $0.complete) } ?? [],
            liveRungs: responder.liveRelay?.followed ?? [], transcoded: status.transcoded, heartbeat: status.lastHeartbeat,
            claims: status.coordinator == nil ? nil : status.claimed)
    }

    func response(_ responder: EdgeResponder, json: Bool) throws -> Response {
        let view = view(responder)
        var headers = HTTPFields()
        headers[.cacheControl] = "no-store"
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(view))))
        }
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = HTMLPage.securityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: Self.html(view))))
    }

    static func html(_ view: View) -> String {
        typealias H = HTMLPage
        var body = "<h1>Edge " + (view.node.map { "<code>\(H.escape($0))</code>" } ?? "(an open cache: no coordinator)") + "</h1>"
        if let beat = view.heartbeat {
            // The coordinator's answer is about viewers; a class that does not deliver only hosts.
            let delivers = DeviceClass.named(view.deviceClass)?.tasks.contains(.delivery) ?? true
            let answer =
                delivers
                ? (beat.routed == true ? "<span class=\"ok\">routed to viewers</span>" : "<span class=\"bad\">not routed: \(H.escape(beat.reason ?? "unknown"))</span>")
                : ((beat.slashedStake ?? 0) > 0
                    ? "<span class=\"bad\">slashed: given no hosting</span>" : "<span class=\"ok\">hosts only (class \(H.escape(view.deviceClass))): never routed to viewers</span>")
            let routing = beat.error.map { "<span class=\"bad\">the last heartbeat failed: \(H.escape($0))</span>" } ?? answer
            body += "<p id=\"routing\">\(routing) (as the coordinator said at \(H.time(beat.at)))</p>"
        } else if view.coordinator != nil {
            body += "<p id=\"routing\" class=\"warn\">no heartbeat answered yet</p>"
        }
        var facts = [("Class", H.escape(view.deviceClass)), ("Listeners", H.escape(view.listeners.joined(separator: ", "))), ("Started", H.time(view.startedAt))]
        if let coordinator = view.coordinator { facts.append(("Coordinator", H.escape(coordinator))) }
        if let dashboard = view.dashboard { facts.append(("On the dashboard", "<a id=\"dashboard\" href=\"\(H.escape(dashboard))\">\(H.escape(dashboard))</a>")) }
        if let stake = view.heartbeat?.bondedStake { facts.append(("Bonded stake", "\(DeviceClass.dhb(stake)) DHB")) }
        if let slashed = view.heartbeat?.slashedStake, slashed > 0 { facts.append(("Slashed", "<span class=\"bad\">\(DeviceClass.dhb(slashed)) DHB</span>")) }
        body += H.facts(facts)
        let total = view.requests.values.reduce(0, +)
        body += "<h2>Served</h2><p>\(H.count(total, "request")), \(H.bytes(Int64(view.bodyBytes))) of bodies</p>"
        body += H.table(["Status", "Requests"], view.requests.sorted { $0.key < $1.key }.map { [H.escape($0.key), H.count($0.value, "request")] }, empty: "no request yet")
        let c = view.cache
        body += "<h2>Cache</h2>"
        body += H.facts([
            ("Used", "\(H.bytes(Int64(c.usedBytes))) of \(H.bytes(Int64(c.capacity))) (\(c.capacity > 0 ? H.percent(Double(c.usedBytes) / Double(c.capacity)) : "–")), \(H.count(c.objects, "object"))"),
            ("In memory", H.bytes(Int64(c.memoryBytes))),
            ("Hit ratio (hits and joins per look-up)", view.hitRatio.map { String(format: "%.1f %%", $0 * 100) } ?? "no look-up yet"),
            ("Look-ups", "\(H.count(c.hits, "hit")), \(c.joined) joined a fill in flight, \(c.misses) missed"),
            ("Fills", "\(c.filled) stored, \(c.fillsNotFound) not found upstream, \(c.fillsFailed) failed, \(c.fillsInFlight) in flight"),
            ("Evicted", H.count(c.evictions, "object")),
        ])
        body += "<h2>Transcodes</h2><p>\(H.count(view.transcoded.segments, "rendition segment")) made, \(H.bytes(view.transcoded.bytes))"
        body += (view.transcoded.lastAt.map { "; the last at \(H.time($0))" } ?? "") + "</p>"
        if let claims = view.claims {
            body += "<h2>Delivery claims</h2><p>\(H.count(claims.receipts, "receipt")) for \(H.bytes(claims.bytes)), \(H.count(claims.refused, "claim")) refused"
            body += (claims.lastRefusal.map { " (last: \(H.escape($0)))" } ?? "") + (claims.lastAt.map { "; last answered at \(H.time($0))" } ?? "") + "</p>"
        }
        body += "<h2>Hosted titles</h2>" + H.table(["Title", "State"], view.hosted.map { [H.escape($0.content), $0.complete ? "whole" : "<span class=\"warn\">copying</span>"] })
        body += "<h2>Live rungs followed</h2>" + H.table(["Title/rung"], view.liveRungs.map { [H.escape($0)] })
        return H.html(title: "Edge status", home: "Edge status", homeURL: "/status", body: body, at: view.at)
    }
}
