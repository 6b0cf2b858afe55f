import AsyncHTTPClient
import EdgeCache
import Foundation
import HLS
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// The live titles this edge delivers without hosting them: each rung's newest playlist kept in
/// memory and followed from the title's hosts with **one** blocking reload at a time, however
/// many viewers wait here.
///
/// A viewer's playlist request is answered from the copy here (a blocking reload waits until the
/// copy has what it asks for); the copy is replaced whole when a newer one comes and never goes
/// back. Each new copy's preload hint is asked for at once, ahead of the viewers, through the
/// cache, so the part is fetched once per edge and streamed to every viewer as its bytes arrive.
/// The hosts are asked in turn: one that fails is followed by the next, so viewers see no gap.
///
/// A rung nobody asked for in ``idle`` is no longer followed.
///
/// Thread-safe: the rungs are behind one `Mutex`.
package final class LiveRelay: Sendable {
    /// Rungs followed at once, at most.
    static let maxRungs = 256
    /// A rung nobody asked for this long is no longer followed.
    static let idle: Duration = .seconds(30)
    /// How old a followed title's sources may get before the coordinator is asked again: delivery
    /// edges that join as viewers grow (tiers) and replacement hosts are learned within this.
    static let sourcesAge: Duration = .seconds(20)
    static let maxPlaylistBytes = 1 << 20

    private struct Rung {
        var text: String
        /// `text` made ready for each viewer's token, whole and as a delta update.
        var templates: LiveTemplates
        var progress: LiveProgress
        var hint: String?
        var asked: ContinuousClock.Instant
    }
    private let rungs = Mutex<[String: Rung]>([:])
    private let arrivals = Arrivals()
    private let assignments: Assignments
    private let client: HTTPClient
    private let prefetch: @Sendable (CacheKey) -> Void

    /// - Parameter prefetch: starts filling a part into the cache (the hinted part, ahead of viewers).
    package init(assignments: Assignments, client: HTTPClient, prefetch: @escaping @Sendable (CacheKey) -> Void) {
        self.assignments = assignments
        self.client = client
        self.prefetch = prefetch
    }

    /// The rung a media playlist's path names (`{rung}/index.m3u8`), nil for any other path.
    package static func rung(of path: String) -> String? {
        guard path.hasSuffix("/index.m3u8"), let slash = path.firstIndex(of: "/"), path[slash...] == "/index.m3u8" else { return nil }
        return String(path[..<slash])
    }

    /// The rungs followed now, as `content/rung`, in order.
    package var followed: [String] { rungs.withLock { $0.keys.sorted() } }

    /// Whether `rung` of `content` is followed here (asking counts as a viewer's interest).
    package func follows(content: String, rung: String) -> Bool {
        rungs.withLock { rungs in
            guard rungs[content + "/" + rung] != nil else { return false }
            rungs[content + "/" + rung]!.asked = .now
            return true
        }
    }

    /// Follows `rung` of `content` from now on if `text` (its playlist, just fetched whole) is a
    /// Low-Latency HLS playlist still being made.
    /// - Returns: whether it is followed.
    package func adopt(content: String, rung: String, text: String) -> Bool {
        guard !text.contains("#EXT-X-ENDLIST"), text.contains("#EXT-X-PART-INF"), let playlist = try? LivePlaylist.parse(text) else { return false }
        let key = content + "/" + rung
        let templates = LiveTemplates(text, playlist, content: content)
        let started = rungs.withLock { rungs -> Bool in
            if rungs[key] != nil { return false }
            guard rungs.count < Self.maxRungs else { return false }
            var progress = LiveProgress()
            progress.advance(to: playlist)
            rungs[key] = Rung(text: text, templates: templates, progress: progress, hint: playlist.preloadHint, asked: .now)
            return true
        }
        if started {
            prefetchHint(playlist.preloadHint, content: content, rung: rung)
            Task { await self.follow(content: content, rung: rung) }
        }
        return rungs.withLock { $0[key] != nil }
    }

    /// The newest playlist here (as it came, and ready for tokens, whole or as a delta update
    /// when `delta` asks for one and it offers them) and its target duration.
    package func playlist(content: String, rung: String, delta: Bool = false) -> (text: String, template: TokenTemplate?, targetDuration: Int)? {
        rungs.withLock { $0[content + "/" + rung].map { ($0.text, $0.templates.template(delta: delta), $0.progress.targetDuration) } }
    }

    /// Holds a viewer's playlist request until the copy here lists part `part` of segment
    /// `sequence` (or the whole segment), for at most three target durations.
    package func reload(content: String, rung: String, sequence: Int, part: Int?) async -> LiveReload {
        await arrivals.holdReload(on: content + "/" + rung, answer: progress(content: content, rung: rung, sequence: sequence, part: part))
    }

    /// The same, calling `done` with the outcome instead of suspending a task (at once when the
    /// copy here has it already).
    package func whenReloaded(content: String, rung: String, sequence: Int, part: Int?, then done: @escaping @Sendable (LiveReload) -> Void) {
        arrivals.holdReload(on: content + "/" + rung, answer: progress(content: content, rung: rung, sequence: sequence, part: part), then: done)
    }

    /// What a blocking reload for `sequence`/`part` comes to now (nil: wait), and the rung's
    /// target duration.
    private func progress(content: String, rung: String, sequence: Int, part: Int?) -> @Sendable () -> (LiveReload?, targetDuration: Int) {
        let key = content + "/" + rung
        return {
            self.rungs.withLock { rungs in
                guard let known = rungs[key]?.progress else { return (.timedOut, 2) }
                return (known.reload(sequence: sequence, part: part), known.targetDuration)
            }
        }
    }

    // MARK: - Following the hosts

    /// Asks the hosts for each next playlist with a blocking reload (the part the last one hints),
    /// one request at a time, until nobody asked for the rung in ``idle`` or it ended.
    private func follow(content: String, rung: String) async {
        let key = content + "/" + rung
        var turn = 0
        while true {
            let next: (msn: Int, part: Int?)? = rungs.withLock { rungs in
                guard let known = rungs[key] else { return nil }
                if ContinuousClock.now - known.asked > Self.idle {
                    rungs[key] = nil
                    return nil
                }
                if known.progress.ended { return nil }
                return Self.nextWanted(hint: known.hint, progress: known.progress)
            }
            guard let next else { break }
            guard let sources = await assignments.sources(refreshingFor: content, olderThan: Self.sourcesAge), !sources.urls.isEmpty else {
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            let host = sources.urls[turn % sources.urls.count]
            let query = "_HLS_msn=\(next.msn)" + (next.part.map { "&_HLS_part=\($0)" } ?? "")
            let asked = ContinuousClock.now
            do {
                // Counted by rung: one blocking reload at a time, whatever the viewers waiting here.
                Counter(label: "depin_live_relay_upstream_playlists_total", dimensions: [("rung", rung)]).increment()
                let text = try await fetch("\(host)/v/\(content)/\(rung)/index.m3u8?\(query)", token: sources.token)
                take(text, content: content, rung: rung)
            } catch is Unavailable {
                // Held three target durations with nothing newer: ask again. A 503 at once (the
                // host does not have the rung yet) is asked of the next host, after a pause.
                if ContinuousClock.now - asked < .milliseconds(200) {
                    turn += 1
                    try? await Task.sleep(for: .milliseconds(200))
                }
            } catch {
                turn += 1  // the next host, at once
                if turn % max(sources.urls.count, 1) == 0 { try? await Task.sleep(for: .milliseconds(200)) }
            }
        }
        // An ended rung stays for late viewers until nobody asks for it.
        while let asked = rungs.withLock({ $0[key]?.asked }), ContinuousClock.now - asked < Self.idle {
            try? await Task.sleep(for: Self.idle)
        }
        rungs.withLock { rungs in
            if let asked = rungs[key]?.asked, ContinuousClock.now - asked >= Self.idle { rungs[key] = nil }
        }
    }

    /// The part a blocking reload asks for after `progress`: the one the preload hint names
    /// (`MSN.PART.ts`), else the next segment.
    static func nextWanted(hint: String?, progress: LiveProgress) -> (msn: Int, part: Int?) {
        if let hint {
            let numbers = hint.split(separator: "?")[0].split(separator: ".")
            if numbers.count == 3, let msn = Int(numbers[0]), let part = Int(numbers[1]) { return (msn, part) }
        }
        return (progress.last.sequence + 1, nil)
    }

    /// A playlist from a host: kept if it is newer than the copy here, with its rendition
    /// reports brought up to this relay's copies of the other rungs.
    private func take(_ fetched: String, content: String, rung: String) {
        guard let playlist = try? LivePlaylist.parse(fetched) else { return }
        let key = content + "/" + rung
        // Its rendition reports say how far the other rungs are: as far as this relay's copies
        // of them, where those are newer than the host's playlist knew.
        let siblings = rungs.withLock { rungs in rungs.filter { $0.key.hasPrefix(content + "/") }.mapValues(\.progress.last) }
        let text = LivePlaylist.withCurrentReports(fetched) { siblings[content + "/" + $0] }
        let templates = LiveTemplates(text, text == fetched ? playlist : (try? LivePlaylist.parse(text)) ?? playlist, content: content)
        let newHint = rungs.withLock { rungs -> String?? in
            guard var known = rungs[key], known.progress.isOlder(than: playlist) else { return nil }
            known.progress.advance(to: playlist)
            known.text = text
            known.templates = templates
            let hint = known.hint == playlist.preloadHint ? nil : playlist.preloadHint
            known.hint = playlist.preloadHint
            rungs[key] = known
            return .some(hint)
        }
        guard let newHint else { return }
        // The hinted part first: a viewer who gets the playlist must find its fill started (kept
        // in memory), not start one of its own.
        prefetchHint(newHint, content: content, rung: rung)
        arrivals.announce(key)
    }

    private func prefetchHint(_ hint: String?, content: String, rung: String) {
        guard let hint, let uri = hint.split(separator: "?").first, let key = try? CacheKey(content: content, path: "\(rung)/\(uri)") else { return }
        prefetch(key)
    }

    /// A host held a blocking reload for three target durations and had nothing newer.
    private struct Unavailable: Error {}
    /// A host answered something other than a playlist.
    private struct Refused: Error {
        let status: HTTPResponseStatus
    }

    private func fetch(_ url: String, token: String?) async throws -> String {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        // A host holds a blocking reload for up to three target durations (6 s at 2 s).
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: Self.maxPlaylistBytes)
        if response.status == .serviceUnavailable { throw Unavailable() }
        guard response.status == .ok else { throw Refused(status: response.status) }
        return String(buffer: body)
    }
}
