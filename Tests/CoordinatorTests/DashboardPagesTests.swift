@testable import Coordinator
import DePINProtocol
import Foundation
import Testing

@Suite("dashboard pages: figures, charts and escaping")
struct DashboardPagesTests {
    @Test("claims fall into 24 hourly buckets, the current hour and the 23 before it, oldest first; older and future claims are left out")
    func hourly() {
        let now: Int64 = 1_800_000_000 + 1_234  // 20 min 34 s into an hour
        let hour = now - 1_234
        func claim(_ at: Int64, _ bytes: Int64, node: String = "n", content: String = "t", session: String = "s") -> ClaimRecord {
            ClaimRecord(id: "c\(at)", node: node, content: content, session: session, bytes: bytes, acceptedAt: at, receipt: "")
        }
        let traffic = DashboardMemo.traffic(
            [
                claim(now, 10), claim(hour, 5, session: "s2"), claim(hour - 1, 7, node: "m"), claim(hour - 23 * 3600, 3, content: "u"),
                claim(hour - 23 * 3600 - 1, 100), claim(hour + 3600, 100),
            ], now: now)
        #expect(traffic.from == hour - 23 * 3600 && DashboardMemo.windowStart(hour) == traffic.from)
        let n = traffic.node("n")
        #expect(n.count == 24 && n.first?.hour == traffic.from && n.last?.hour == hour)
        #expect(n.last?.bytes == 15 && n.last?.receipts == 2 && n.first?.bytes == 3)
        #expect(traffic.node("m")[22].bytes == 7 && traffic.node("nobody").allSatisfy { $0.bytes == 0 })
        #expect(traffic.bytes == 25 && traffic.receipts == 4)
        #expect(traffic.sessionsByContent["t"] == 2 && traffic.sessionsByContent["u"] == 1)
        #expect(traffic.content("t").reduce(0) { $0 + $1.bytes } == 22)
    }

    @Test("the map has one marker per edge, placed by its coordinates, linked to its page; ids and reasons are escaped")
    func worldMap() {
        let nodes = [
            NodeSummary(id: "a", deviceClass: "pc", latitude: 0, longitude: 0, routed: true, reason: nil, bonded: 1, slashed: 0, lastHeartbeat: 0, load: 0, viewers: 0),
            NodeSummary(id: "b\"><script>", deviceClass: "mobile", latitude: 90, longitude: -180, routed: false, reason: "<b>slashed</b>", bonded: 0, slashed: 1, lastHeartbeat: 0, load: 0, viewers: 0),
        ]
        let svg = DashboardCharts.worldMap(nodes)
        #expect(svg.components(separatedBy: "<circle class=\"marker").count - 1 == 2)
        #expect(svg.contains(#"data-node="a" cx="360.0" cy="180.0""#))
        #expect(svg.contains(#"cx="0.0" cy="0.0""#))
        #expect(!svg.contains("<script>") && !svg.contains("<b>"))
        #expect(svg.contains("marker unrouted"))
        #expect(svg.contains(#"<path class="coast" d="M"#) && Coastline.path.count > 10_000, "the coastlines are drawn")
    }

    @Test("figures carry their units, and text is escaped")
    func figures() {
        #expect(HTMLPage.bytes(999) == "999 B")
        #expect(HTMLPage.bytes(678_496) == "678.50 kB")
        #expect(HTMLPage.bytes(2_500_000_000) == "2.50 GB")
        #expect(HTMLPage.count(1, "receipt") == "1 receipt" && HTMLPage.count(2, "receipt") == "2 receipts")
        #expect(HTMLPage.escape(#"<a href="x">'&'</a>"#) == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
        #expect(HTMLPage.time(0).contains(#"data-unix="0""#) && HTMLPage.time(0).contains("1970-01-01 00:00:00 UTC"))
        let page = HTMLPage.dashboardNotFound("No such edge", "x")
        #expect(page.hasPrefix("<!doctype html>") && page.contains("<h1>No such edge</h1>"))
    }
}
