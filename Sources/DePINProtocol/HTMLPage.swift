import Foundation

/// Server-rendered pages people look at (the coordinator's dashboard, an edge's `/status`):
/// one frame, one style and one way to write figures. Every figure has its unit; every time is
/// a `<time data-unix>` that the page's script writes in the viewer's time zone (UTC until
/// then); all text is escaped. The script also refreshes the page's `<main>` from the same
/// URL every 10 s (`?refresh=N` for N seconds) without reloading the page.
package enum HTMLPage {
    /// Only the page's own inline script and style; refreshes from its own origin.
    package static let securityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"

    /// A whole page: a header (`home` links to `homeURL`), `body` in `<main>`, the figures' time.
    /// An error page (`refreshes` false) has no script: its times stay in UTC and it does not poll.
    package static func html(title: String, home: String, homeURL: String, body: String, at: Int64, refreshes: Bool = true) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="icon" href="data:,">
        <title>\(escape(title)) · DeHub DePIN</title>
        <style>\(style)</style>
        </head>
        <body>
        <header><a href="\(escape(homeURL))">\(escape(home))</a><span id="refresh-state">\(refreshes ? "figures refresh every 10 s" : "")</span></header>
        <main data-at="\(at)">
        \(body)
        <p class="asof">Figures as of \(time(at)).</p>
        </main>
        \(refreshes ? "<script>\(script)</script>" : "")
        </body>
        </html>

        """
    }

    /// Escapes text for HTML content and attribute values.
    package static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A time, written in UTC here and in the viewer's time zone by the script.
    package static func time(_ unix: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(unix))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let utc = String(format: "%04d-%02d-%02d %02d:%02d:%02d UTC", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
        return #"<time datetime="\#(ISO8601DateFormatter().string(from: date))" data-unix="\#(unix)">\#(utc)</time>"#
    }

    /// Bytes in decimal units (B, kB, MB, GB, TB).
    package static func bytes(_ count: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(count), unit = 0
        while abs(value) >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.2f %@", value, units[unit])
    }

    /// A count with its noun: "1 receipt", "2 receipts".
    package static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

    package static func percent(_ fraction: Double) -> String { String(format: "%.0f %%", fraction * 100) }

    /// A table: a header row and rows of HTML cells already escaped.
    package static func table(_ headers: [String], _ rows: [[String]], empty: String = "none yet") -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(escape(empty))</p>" }
        let head = headers.map { "<th>\(escape($0))</th>" }.joined()
        let body = rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table><thead><tr>\(head)</tr></thead><tbody>\n\(body)\n</tbody></table>"
    }

    /// Term and value pairs (values already escaped).
    package static func facts(_ pairs: [(String, String)]) -> String {
        "<dl>" + pairs.map { "<dt>\(escape($0.0))</dt><dd>\($0.1)</dd>" }.joined() + "</dl>"
    }

    package static let style = """
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0; background: #10141a; color: #e6e6e6; }
        header { display: flex; justify-content: space-between; padding: 10px 16px; background: #18202b; }
        header a { color: #9cf; font-weight: 600; text-decoration: none; }
        #refresh-state { color: #889; font-size: 0.85em; }
        main { max-width: 1100px; margin: 0 auto; padding: 8px 16px 32px; }
        h1 { font-size: 1.45em; margin: 12px 0 4px; overflow-wrap: anywhere; } h2 { font-size: 1.1em; margin: 22px 0 6px; color: #cde; }
        a { color: #9cf; } .empty, .asof { color: #889; }
        .totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 10px; }
        .total { background: #18202b; border-radius: 6px; padding: 10px; } .total b { display: block; font-size: 1.35em; }
        table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
        th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #243040; vertical-align: top; }
        th { color: #9ab; font-weight: 600; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; } dt { color: #9ab; } dd { margin: 0; overflow-wrap: anywhere; }
        .ok { color: #8d8; } .bad { color: #f77; } .warn { color: #fc6; }
        ul.warnings { background: #2a2010; border-left: 4px solid #fc6; padding: 8px 8px 8px 28px; }
        pre.explain { background: #18202b; padding: 10px; overflow-x: auto; }
        svg { width: 100%; height: auto; display: block; }
        svg .coast { fill: none; stroke: #5f8f7a; stroke-width: 0.9; stroke-linejoin: round; }
        svg .grid { stroke: #29425c; stroke-width: 0.6; stroke-dasharray: 3 3; } svg .axis { stroke: #4a6a8a; stroke-width: 1; }
        svg .tick { fill: #89a; font-size: 10px; } svg .end { text-anchor: end; }
        svg .marker { stroke-width: 2; } svg .routed { stroke: #fff; } svg .unrouted { stroke: #f55; fill-opacity: 0.4; stroke-dasharray: 2 2; }
        svg .bar { fill: #5aa0e0; } svg .line { fill: none; stroke: #8d8; stroke-width: 2; }
        .legend span { margin-right: 14px; } .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; }
        """

    package static let script = """
        "use strict";
        function localize(root) {
          for (const element of root.querySelectorAll("[data-unix]")) {
            const date = new Date(Number(element.dataset.unix) * 1000);
            const format = element.dataset.format;
            element.textContent = format === "hour" ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
              : format === "time" ? date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" })
              : date.toLocaleString([], { timeZoneName: "short" });
            if (element.tagName !== "text") element.title = date.toISOString();
          }
        }
        localize(document);
        const every = Math.min(600, Math.max(1, Number(new URLSearchParams(location.search).get("refresh")) || 10));
        const state = document.getElementById("refresh-state");
        state.textContent = "figures refresh every " + every + " s";
        let refreshes = 0;
        // One refresh at a time, each given at most `every` seconds, the next scheduled when it
        // ends; none while the page is hidden; none after the page is gone (404) or refused.
        async function refresh() {
          if (document.hidden) { schedule(); return; }
          const abort = new AbortController();
          const timer = setTimeout(() => abort.abort(), every * 1000);
          try {
            const answer = await fetch(location.href, { cache: "no-store", headers: { "Accept": "text/html" }, signal: abort.signal });
            if (answer.status === 404 || answer.status === 405) {
              state.textContent = "this page is gone (" + answer.status + "); figures as of the time below";
              return;
            }
            if (!answer.ok) throw new Error("the server answered " + answer.status);
            const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").querySelector("main");
            if (!fresh) throw new Error("the answer has no figures");
            localize(fresh);
            document.querySelector("main").replaceWith(document.adoptNode(fresh));
            refreshes += 1;
            document.body.dataset.refreshes = String(refreshes);
            state.textContent = "figures refresh every " + every + " s";
          } catch (error) {
            state.textContent = "refresh failed (" + (error.name === "AbortError" ? "no answer in " + every + " s" : error.message) + "); trying again";
          } finally {
            clearTimeout(timer);
          }
          schedule();
        }
        function schedule() { setTimeout(refresh, every * 1000); }
        schedule();
        """
}
