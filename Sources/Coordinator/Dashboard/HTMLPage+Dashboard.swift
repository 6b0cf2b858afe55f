import DePINProtocol
import Foundation

/// The dashboard's pages in the shared ``HTMLPage`` frame, with links between them.
extension HTMLPage {
    /// A dashboard page.
    static func dashboard(title: String, body: String, at: Int64) -> String {
        HTMLPage.html(title: title, home: "DeHub DePIN network", homeURL: "/dashboard", body: body, at: at)
    }

    /// A clear 404 (or 405) page of the dashboard.
    static func dashboardNotFound(_ heading: String, _ sentence: String) -> String {
        HTMLPage.html(
            title: heading, home: "DeHub DePIN network", homeURL: "/dashboard",
            body: "<h1>\(escape(heading))</h1><p class=\"notfound\">\(sentence)</p><p><a href=\"/dashboard\">Back to the network</a></p>",
            at: Int64(Date().timeIntervalSince1970), refreshes: false)
    }

    static func dhb(_ units: Int64) -> String { "\(DeviceClass.dhb(units)) DHB" }

    /// A link to a node's page, showing the start of its id.
    static func nodeLink(_ id: String) -> String {
        #"<a class="node" href="/dashboard/nodes/\#(escape(id))" title="\#(escape(id))">\#(escape(String(id.prefix(12))))…</a>"#
    }

    static func titleLink(_ id: String) -> String { #"<a href="/dashboard/titles/\#(escape(id))">\#(escape(id))</a>"# }

    /// Hourly traffic as bars, with bytes per hour.
    static func hourlyChart(_ hours: [HourTraffic]) -> String {
        DashboardCharts.bars(
            hours.map { (label: hourLabel($0.hour), unix: $0.hour, value: Double($0.bytes), text: "\(bytes($0.bytes)), \(HTMLPage.count($0.receipts, "receipt"))") },
            unit: "bytes per hour", labelEvery: 6)
    }

    private static func hourLabel(_ unix: Int64) -> String {
        String(format: "%02d:00 UTC", Int(unix % 86_400 / 3600))
    }
}
