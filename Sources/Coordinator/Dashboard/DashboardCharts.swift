import DePINProtocol
import Foundation

/// The dashboard's charts as inline SVG (no script, nothing from another site). Times on axes
/// are `data-unix` elements the page's script writes in the viewer's time zone.
enum DashboardCharts {
    /// Colours by device class (the legend says which).
    static let classColours = ["mobile": "#4fc3f7", "pc": "#ffb74d", "server": "#81c784"]

    /// Edges on an equirectangular world (longitude → x, latitude → y) with a graticule every
    /// 30° and the coastlines (``Coastline``, from GSHHG): one marker per edge, filled by class, ringed white when routable and red, faded,
    /// when not. Each marker links to the edge's page.
    static func worldMap(_ nodes: [NodeSummary]) -> String {
        var svg = #"<svg class="map" viewBox="-8 -8 736 376" role="img" aria-label="edges on a world map">"#
        svg += ##"<rect x="0" y="0" width="720" height="360" fill="#0b1a2a"/>"##
        for longitude in stride(from: -180, through: 180, by: 30) {
            let x = Double(longitude + 180) * 2
            svg += #"<line x1="\#(x)" y1="0" x2="\#(x)" y2="360" class="\#(longitude == 0 ? "axis" : "grid")"/>"#
            if longitude > -180 && longitude < 180 { svg += #"<text x="\#(x + 2)" y="356" class="tick">\#(abs(longitude))°\#(longitude < 0 ? "W" : longitude > 0 ? "E" : "")</text>"# }
        }
        for latitude in stride(from: -90, through: 90, by: 30) {
            let y = Double(90 - latitude) * 2
            svg += #"<line x1="0" y1="\#(y)" x2="720" y2="\#(y)" class="\#(latitude == 0 ? "axis" : "grid")"/>"#
            if abs(latitude) < 90 { svg += #"<text x="2" y="\#(y - 2)" class="tick">\#(abs(latitude))°\#(latitude < 0 ? "S" : latitude > 0 ? "N" : "")</text>"# }
        }
        svg += #"<path class="coast" d="\#(Coastline.path)"/>"#
        for node in nodes {
            let x = (min(180, max(-180, node.longitude)) + 180) * 2, y = (90 - min(90, max(-90, node.latitude))) * 2
            let colour = classColours[node.deviceClass] ?? "#bbb"
            let state = node.routed ? "routable" : "not routable: \(node.reason ?? "")"
            svg += #"<a href="/dashboard/nodes/\#(HTMLPage.escape(node.id))">"#
            svg += #"<circle class="marker \#(node.routed ? "routed" : "unrouted")" data-node="\#(HTMLPage.escape(node.id))" cx="\#(format(x))" cy="\#(format(y))" r="6" fill="\#(colour)"/>"#
            svg += "<title>\(HTMLPage.escape("\(node.id.prefix(12))… (\(node.deviceClass)), \(state)"))</title></a>"
        }
        return svg + "</svg>"
    }

    /// A bar per value (hours, epochs), labelled every `labelEvery` bars; each bar's tooltip
    /// says its label and value with its unit.
    static func bars(_ values: [(label: String, unix: Int64?, value: Double, text: String)], unit: String, labelEvery: Int = 1) -> String {
        let width = 720.0, height = 120.0, top = values.map(\.value).max() ?? 0
        let scale = top > 0 ? (height - 20) / top : 0
        let step = values.isEmpty ? width : width / Double(values.count)
        var svg = #"<svg class="chart" viewBox="-4 -16 \#(Int(width) + 8) \#(Int(height) + 36)" role="img" aria-label="\#(HTMLPage.escape(unit)) chart">"#
        svg += #"<line x1="0" y1="\#(height)" x2="\#(width)" y2="\#(height)" class="axis"/>"#
        svg += #"<text x="0" y="-4" class="tick">max \#(HTMLPage.escape(values.max { $0.value < $1.value }?.text ?? "0")) (\#(HTMLPage.escape(unit)))</text>"#
        for (index, bar) in values.enumerated() {
            let barHeight = bar.value * scale, x = Double(index) * step
            let barWidth = min(step * 0.8, 48)
            svg += #"<rect class="bar" x="\#(format(x + (step - barWidth) / 2))" y="\#(format(height - barHeight))" width="\#(format(barWidth))" height="\#(format(barHeight))">"#
            svg += "<title>\(HTMLPage.escape(bar.label)): \(HTMLPage.escape(bar.text))</title></rect>"
            if index % max(1, labelEvery) == 0 { svg += #"<text x="\#(format(x))" y="\#(height + 14)" class="tick"\#(unixAttribute(bar.unix, "hour"))>\#(HTMLPage.escape(bar.label))</text>"# }
        }
        return svg + "</svg>"
    }

    /// A step line of a count over time, from the first point to `until`.
    static func steps(_ points: [(at: Int64, count: Int)], until: Int64, unit: String) -> String {
        let width = 720.0, height = 100.0
        guard let first = points.first else { return #"<p class="empty">none yet</p>"# }
        let span = Double(max(1, until - first.at)), top = Double(max(1, points.map(\.count).max() ?? 1))
        func x(_ at: Int64) -> Double { Double(at - first.at) / span * width }
        func y(_ count: Int) -> Double { height - Double(count) / top * (height - 10) }
        var path = "M0 \(format(height))", last = 0
        for point in points {
            path += " L\(format(x(point.at))) \(format(y(last))) L\(format(x(point.at))) \(format(y(point.count)))"
            last = point.count
        }
        path += " L\(format(width)) \(format(y(last)))"
        var svg = #"<svg class="chart" viewBox="-4 -16 \#(Int(width) + 8) \#(Int(height) + 36)" role="img" aria-label="\#(HTMLPage.escape(unit)) over time">"#
        svg += #"<line x1="0" y1="\#(height)" x2="\#(width)" y2="\#(height)" class="axis"/><path class="line" d="\#(path)"/>"#
        svg += #"<text x="0" y="-4" class="tick">max \#(Int(top)) \#(HTMLPage.escape(unit))</text>"#
        svg += #"<text x="0" y="\#(height + 14)" class="tick"\#(unixAttribute(first.at, "time"))>start</text>"#
        svg += #"<text x="\#(width)" y="\#(height + 14)" class="tick end"\#(unixAttribute(until, "time"))>now</text>"#
        return svg + "</svg>"
    }

    private static func unixAttribute(_ unix: Int64?, _ format: String) -> String {
        unix.map { #" data-unix="\#($0)" data-format="\#(format)""# } ?? ""
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
