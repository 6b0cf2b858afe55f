@testable import Coordinator
import DePINProtocol
import Foundation
import Testing

@Suite("dashboard pages: figures, charts and escaping")
struct DashboardPagesTests {
    @Test("claims fall into the 24 hours before now, oldest first; older and future claims are left out")
    func hourly() {
        let now: Int64 = 1_800_000_000 + 1_234  // 20 min 34 s into an hour
        func claim(_ at: Int64, _ bytes: Int64) -> ClaimRecord {
            ClaimRecord(id: "c\(at)", node: "n", content: "t", session: "s\(at)", bytes: bytes, acceptedAt: at, receipt: "")
        }
        let hours = CoordinatorAPI.hourly(
            [claim(now, 10), claim(now - 1_234, 5), claim(now - 1_235, 7), claim(now - 23 * 3600 - 1_234, 3), claim(now - 24 * 3600, 100), claim(now + 3600, 100)],
            now: now)
        #expect(hours.count == 24)
        #expect(hours.last?.hour == now - 1_234 && hours.last?.bytes == 15 && hours.last?.receipts == 2)
        #expect(hours[22].bytes == 7)
        #expect(hours.first?.hour == now - 1_234 - 23 * 3600 && hours.first?.bytes == 3)
        #expect(hours.reduce(0) { $0 + $1.bytes } == 25)
    }

    @Test("the map has one marker per edge, placed by its coordinates, linked to its page; ids and reasons are escaped")
    func worldMap() {
        let nodes = [
            NodeSummary(id: "a", deviceClass: "pc", latitude: 0, longitude: 0, routed: true, reason: nil, bonded: 1, slashed: 0, lastHeartbeat: 0, load: 0),
            NodeSummary(id: "b\"><script>", deviceClass: "mobile", latitude: 90, longitude: -180, routed: false, reason: "<b>slashed</b>", bonded: 0, slashed: 1, lastHeartbeat: 0, load: 0),
        ]
        let svg = DashboardCharts.worldMap(nodes)
        #expect(svg.components(separatedBy: "<circle class=\"marker").count - 1 == 2)
        #expect(svg.contains(#"data-node="a" cx="360.0" cy="180.0""#))
        #expect(svg.contains(#"cx="0.0" cy="0.0""#))
        #expect(!svg.contains("<script>") && !svg.contains("<b>"))
        #expect(svg.contains("marker unrouted"))
    }

    @Test("figures carry their units, and text is escaped")
    func figures() {
        #expect(HTMLPage.bytes(999) == "999 B")
        #expect(HTMLPage.bytes(678_496) == "678.50 kB")
        #expect(HTMLPage.bytes(2_500_000_000) == "2.50 GB")
        #expect(HTMLPage.count(1, "receipt") == "1 receipt" && HTMLPage.count(2, "receipt") == "2 receipts")
        #expect(HTMLPage.escape(#"<a href="x">'&'</a>"#) == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
        #expect(HTMLPage.time(0).contains(#"data-unix="0""#) && HTMLPage.time(0).contains("1970-01-01 00:00:00 UTC"))
        let page = DashboardPage.notFound("No such edge", "x")
        #expect(page.hasPrefix("<!doctype html>") && page.contains("<h1>No such edge</h1>"))
    }
}
