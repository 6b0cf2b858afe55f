import DePINProtocol

/// `GET /watch/{content}`: one small page that plays a title in the browser's own HLS player
/// through the nearest edge, and moves to the next edge of the route answer when its edge fails.
///
/// The page's script (no framework, nothing from another site) looks up `/v1/route` (the
/// viewer's address, or the page's `?lat=&lon=` / `?region=`), plays
/// `{edge}/v/{content}/master.m3u8?token=...` (playlist, key and segments all from that edge's
/// origin, which Chromium's player requires), and shows the title, the rendition playing and
/// the edge. On a media error, or no progress for a few seconds while not paused, it reports the
/// edge (`POST /v1/viewer-events`) and resumes from the next edge at the same position.
///
/// For tests and the app, `video.dataset.edge` is the playing edge's base URL and
/// `video.dataset.state` one of `loading`, `playing`, `switching`, `failed`.
enum WatchPage {
    /// The page for a title the coordinator knows.
    static func html(content: String, manifest: ContentManifest?) -> String {
        let seconds = manifest.map { $0.segments.reduce(0) { $0 + $1.duration } } ?? 0
        let facts = manifest.map { "\($0.source.width)×\($0.source.height) source, \(Self.clock(seconds))" } ?? ""
        return page(
            title: content,
            body: """
                <main data-content="\(escape(content))">
                <h1>\(escape(content))</h1>
                <p class="facts">\(escape(facts))</p>
                <video id="player" controls autoplay muted playsinline data-state="loading"></video>
                <p id="status" role="status">Looking up the nearest edge…</p>
                <dl>
                <dt>Rendition</dt><dd id="rendition">–</dd>
                <dt>Edge</dt><dd id="edge">–</dd>
                <dt>Session</dt><dd id="session">–</dd>
                </dl>
                </main>
                <script>\(script)</script>
                """)
    }

    /// A clear 404 page for a title the coordinator does not know.
    static func notFound(content: String) -> String {
        page(
            title: "No such title",
            body: """
                <main><h1>No such title</h1>
                <p>This network has no title called <code>\(escape(String(content.prefix(64))))</code>. \
                Check the link, or ask the publisher whether it was published.</p></main>
                """)
    }

    /// The page's Content-Security-Policy: its own inline script and style, route and event
    /// calls to this origin only, media from any edge.
    static let securityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; media-src http: https:; base-uri 'none'; form-action 'none'"

    private static func page(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) · DeHub</title>
        <style>
        body { font: 16px/1.4 system-ui, sans-serif; margin: 0; background: #111; color: #eee; }
        main { max-width: 960px; margin: 0 auto; padding: 16px; }
        h1 { font-size: 1.4em; margin: 0 0 4px; }
        .facts { color: #aaa; margin: 0 0 12px; }
        video { width: 100%; aspect-ratio: 16 / 9; background: #000; }
        #status { min-height: 1.4em; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; color: #ccc; }
        dt { color: #888; } dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
        code { color: #fc6; }
        </style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    static func escape(_ text: String) -> String { HTMLPage.escape(text) }

    private static func clock(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600
            ? "\(whole / 3600):\(pad(whole / 60 % 60)):\(pad(whole % 60))" : "\(whole / 60):\(pad(whole % 60))"
    }

    private static func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// The player: route, play, watch for failure, fail over.
    static let script = """

        "use strict";
        (() => {
          const content = document.querySelector("main").dataset.content;
          const video = document.getElementById("player");
          const statusLine = document.getElementById("status");
          const edgeLine = document.getElementById("edge");
          const renditionLine = document.getElementById("rendition");
          const sessionLine = document.getElementById("session");
          const query = new URLSearchParams(location.search);
          // Seconds without progress, while not paused, after which an edge counts as failed:
          // shorter once it has played (a stall), longer while it starts (a cold cache).
          const stallSeconds = 4, startSeconds = 15;
          let route = null, index = 0, resumeAt = 0, played = false, failedOver = false, lastFailure = "";
          // Milliseconds since the page opened: the first frame playing, the last time playback
          // advanced before the last move to another edge, and playing again after it (for tests,
          // benchmarks and the app).
          const timings = window.depinWatch = { firstPlaying: null, lastAdvance: null, stoppedAt: null, resumedAt: null, switches: 0 };
          let lastTime = -1, lastProgress = performance.now();

          function setState(state, text) {
            video.dataset.state = state;
            statusLine.textContent = text;
          }

          function describeEdge(edge) {
            let host = edge.url;
            try { host = new URL(edge.url).host; } catch (e) {}
            return host + " (" + Math.round(edge.distanceKilometres) + " km, edge " + (index + 1) + " of " + route.edges.length + ")";
          }

          function play(i, position) {
            index = i;
            const edge = route.edges[i];
            video.dataset.edge = edge.url;
            edgeLine.textContent = describeEdge(edge);
            resumeAt = position;
            played = false;
            lastTime = -1;
            lastProgress = performance.now();
            video.src = edge.url + "/v/" + encodeURIComponent(content) + "/master.m3u8?token=" + encodeURIComponent(route.token);
            const started = video.play();
            if (started) started.catch(() => {});
          }

          function report(edge, reason, position) {
            const body = JSON.stringify({ token: route.token, edge: edge.id, reason: reason.slice(0, 200), position: position });
            fetch("/v1/viewer-events", { method: "POST", headers: { "Content-Type": "application/json" }, body: body, keepalive: true })
              .catch(() => {});
          }

          function fail(reason) {
            if (!route || video.dataset.state === "failed") return;
            const edge = route.edges[index];
            const position = Math.max(video.currentTime || 0, resumeAt);
            timings.stoppedAt = timings.lastAdvance;
            report(edge, reason, position);
            if (index + 1 >= route.edges.length) {
              setState("failed", "Every edge of this route failed (last: " + reason + "). Reload the page to look up a new route.");
              video.removeAttribute("src");
              return;
            }
            setState("switching", "Edge " + (index + 1) + " failed (" + reason + "); moving to edge " + (index + 2) + "…");
            lastFailure = " Edge " + (index + 1) + " failed before: " + reason + ".";
            failedOver = true;
            timings.switches += 1;
            play(index + 1, position);
          }

          video.addEventListener("loadedmetadata", () => {
            if (resumeAt > 0 && Math.abs(video.currentTime - resumeAt) > 0.5) video.currentTime = resumeAt;
          });
          video.addEventListener("playing", () => {
            played = true;
            if (timings.firstPlaying === null) timings.firstPlaying = performance.now();
            if (failedOver) {
              timings.resumedAt = performance.now();
              failedOver = false;
            }
            setState("playing", "Playing from edge " + (index + 1) + "." + lastFailure);
          });
          video.addEventListener("timeupdate", () => {
            if (video.dataset.state === "playing") timings.lastAdvance = performance.now();
          });
          video.addEventListener("resize", () => {
            if (video.videoHeight) renditionLine.textContent = video.videoHeight + "p (" + video.videoWidth + "×" + video.videoHeight + ")";
          });
          video.addEventListener("error", () => {
            const error = video.error;
            if (!route || !error) return;
            fail("media error " + error.code + (error.message ? ": " + error.message : ""));
          });
          setInterval(() => {
            if (!route || video.paused || video.ended || video.dataset.state === "failed") {
              lastProgress = performance.now();
              return;
            }
            if (video.currentTime !== lastTime) {
              lastTime = video.currentTime;
              lastProgress = performance.now();
              return;
            }
            const limit = played ? stallSeconds : startSeconds;
            if (performance.now() - lastProgress > limit * 1000) fail("no progress for " + limit + " s");
          }, 500);

          async function start() {
            if (!video.canPlayType("application/vnd.apple.mpegurl")) {
              setState("failed", "This browser has no HLS player of its own: open this page in Safari, Chrome, Edge or the DeHub app.");
              return;
            }
            const params = new URLSearchParams({ content: content });
            for (const name of ["lat", "lon", "region"]) if (query.has(name)) params.set(name, query.get(name));
            let answer;
            try {
              const response = await fetch("/v1/route?" + params.toString());
              answer = await response.json();
              if (!response.ok) throw new Error(answer.error || ("HTTP " + response.status));
            } catch (error) {
              setState("failed", "The route look-up failed: " + error.message);
              return;
            }
            if (!answer.edges || answer.edges.length === 0) {
              setState("failed", "No edge serves this title near you right now; try again in a minute.");
              return;
            }
            route = answer;
            sessionLine.textContent = answer.session;
            play(0, 0);
          }
          start();
        })();

        """
}
