import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOCore
import NIOSSL
import HLS
import NIOHTTP1
import TestSupport
import Testing

/// `depin live` as a process, its log in a file.
final class LiveProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched from the test that owns this object.
    let process = Process()
    let logPath = NSTemporaryDirectory() + "depin-live-\(UUID()).log"

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: depinBinary)
        process.arguments = ["live"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] = CoordinatorProcess.adminToken
        process.environment = environment
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The URL a pusher is told to push to, once the ingest has said it.
    func pushURL() async throws -> String {
        for _ in 0..<200 {
            if let line = log.split(separator: "\n").first(where: { $0.hasPrefix("live: push to ") }) { return String(line.dropFirst("live: push to ".count)) }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ToolError("depin live said no push URL: \(log)")
    }

    func waitForExit(seconds: Double) async -> Int32? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() {
        if process.isRunning {
            process.interrupt()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

/// The body of a GET over HTTPS (the test network's certificate is self-signed).
func fetchText(_ url: String) async throws -> String {
    try await run("/usr/bin/curl", ["-s", "-k", "--max-time", "10", url], mergeErrors: false).output
}

/// An ffmpeg that pushes a live test pattern (with a tone) for `seconds`, in real time.
func startPusher(_ url: String, format: String, seconds: Int) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    process.arguments = [
        "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-c:a", "aac", "-f", format, url,
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

extension NetworkSuites {
    @Suite("live streams in: depin live, a coordinator and hosting edges")
    struct LiveStreamTests {
        /// A network with two staked hosting edges near the ingest and `depin live` listening.
        /// With `spare`, a third edge farther away that can replace a host.
        /// With `relay`, an edge in New York that hosts nothing of the title and delivers it there.
        static func start(
            _ name: String, listen: String, spare: Bool = false, relay: Bool = false, window: Int = 6, extra: (TestNetwork) -> [String] = { _ in [] }
        ) async throws -> (TestNetwork, LiveProcess, [String]) {
            var network = try await TestNetwork.start(name, coordinatorArguments: ["--challenge-interval", "1", "--challenge-deadline", "10"])
            let first = try await network.addEdge("first", "server", lat: 48.86, lon: 2.35)
            let second = try await network.addEdge("second", "server", lat: 48.80, lon: 2.30)
            var all: Set = [first, second]
            if spare { all.insert(try await network.addEdge("spare", "server", lat: 52.52, lon: 13.40)) }
            if relay {
                all.insert(try await network.addEdge("relay", "server", lat: 40.71, lon: -74.0, extra: ["--claim-interval", "1"]))
                // Nearer to New York than the hosts are, and nearer to the hosts than New York is.
                all.insert(try await network.addEdge("boston", "server", lat: 42.36, lon: -71.06))
            }
            #expect(try await network.waitUntil(seconds: 10) { Set(try await network.routed("show", lat: 48.8, lon: 2.3)) == all })
            let live = try LiveProcess([
                "--id", "show", "--listen", listen, "--out", network.dir.path + "/live", "--coordinator", network.coordinator.base,
                "--ca-file", network.certificate, "--lat", "48.85", "--lon", "2.34", "--grace", "5", "--preset", "ultrafast", "--window", String(window),
            ] + extra(network))
            return (network, live, [first, second])
        }

        /// A viewer's route: its nearest edge and token.
        /// - Parameter avoiding: an edge that was killed (its last heartbeat may still be recent).
        static func viewer(_ network: TestNetwork, avoiding: String? = nil) async throws -> (edge: String, token: String) {
            let route = try await network.client.send(.GET, "/v1/route?content=show&lat=48.85&lon=2.34")
            let token = try #require(route.json["token"] as? String)
            let urls = (route.json["edges"] as? [[String: Any]] ?? []).compactMap { $0["url"] as? String }
            let edge = try #require(urls.first { $0 != avoiding })
            return (edge, token)
        }

        /// ffmpeg plays the master playlist through `edge` for `seconds`; the frames it decoded.
        static func play(_ edge: String, token: String, seconds: Int) async throws -> (status: Int32, frames: Int, output: String) {
            let played = try await run(
                "/usr/bin/ffmpeg",
                ["-v", "error", "-tls_verify", "0", "-i", "\(edge)/v/show/master.m3u8?token=\(token)", "-t", String(seconds), "-map", "0:v:0", "-map", "0:a:0", "-f", "framecrc", "-"],
                mergeErrors: true)
            let frames = played.output.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.hasPrefix("0,") }.count
            return (played.status, frames, played.output)
        }

        @Test("over RTMP: a wrong key is refused and nothing is published; ffmpeg plays the live ladder through an edge with the key; a pusher that drops and comes back gives a discontinuity; a revoked key is refused; the ended stream is a VOD title that plays whole and passes storage challenges")
        func rtmp() async throws {
            let port = freeLoopbackPort()
            let (network, live, hosts) = try await Self.start("live-rtmp", listen: "rtmp://127.0.0.1:\(port)/live", spare: true)
            defer {
                live.stop()
                network.stop()
            }
            let push = try await live.pushURL()
            let key = String(push.split(separator: "/").last!)
            #expect(StreamKey.isValid(key), "the coordinator issued the key: \(push)")

            // A wrong key: ffmpeg is cut off, nothing reaches a host.
            let wrong = try startPusher("rtmp://127.0.0.1:\(port)/live/WRONGwrongWRONGwrong", format: "flv", seconds: 3)
            wrong.waitUntilExit()
            #expect(wrong.terminationStatus != 0)
            #expect(live.log.contains("refused a publisher with the wrong stream key"), "\(live.log)")
            for name in ["first", "second"] { #expect(!FileManager.default.fileExists(atPath: network.dir.path + "/cache-\(name)/live/show")) }

            // The streamer goes live; a viewer plays 10 s of it through its nearest edge.
            let pusher = try startPusher(push, format: "flv", seconds: 300)  // until it is killed below
            #expect(try await network.waitUntil(seconds: 20) { live.log.contains("live: streaming") })
            try await Task.sleep(for: .seconds(3))
            // While it streams, viewers are routed to their nearest edges as for any title: here
            // its hosts, then the spare (which would fill it from them).
            #expect(Set(try await network.routed("show", lat: 48.85, lon: 2.34).prefix(2)) == Set(hosts))
            let (edge, token) = try await Self.viewer(network)
            async let sampled: [String] = {
                var versions: [String] = []
                for _ in 0..<16 {
                    let text = try await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)")
                    if text.hasPrefix("#EXTM3U") { versions.append(text) }
                    try await Task.sleep(for: .milliseconds(300))
                }
                return versions
            }()
            let played = try await Self.play(edge, token: token, seconds: 10)
            let versions = try await sampled
            #expect(played.status == 0, "\(played.output.suffix(600))")
            #expect(played.frames >= 290, "ffmpeg decoded \(played.frames) frames of the live stream in 10 s")
            // What the edge served kept LL-HLS's rules as it changed.
            var last: (Int, Int) = (-1, -1)
            for text in versions {
                let playlist = try LivePlaylist.parse(text)
                #expect(!playlist.endList && playlist.preloadHint != nil && playlist.partTarget == 0.5)
                #expect(playlist.segments.allSatisfy { $0.duration <= 2.0005 } && playlist.segments.flatMap(\.parts).allSatisfy { $0.duration <= 0.5005 })
                let newest = try #require(playlist.lastPart)
                #expect((newest.sequence, newest.part) >= last, "the playlist went backwards")
                last = (newest.sequence, newest.part)
                #expect(text.contains("token="), "every URI carries the viewer's token")
            }
            #expect(versions.count >= 10)

            // A blocking reload for the next segment's first part is held until it exists.
            let now = try LivePlaylist.parse(try await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)"))
            let next = (try #require(now.lastPart)).sequence + 1
            let asked = ContinuousClock.now
            let held = try LivePlaylist.parse(try await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)&_HLS_msn=\(next)&_HLS_part=0"))
            let waited = ContinuousClock.now - asked
            #expect(held.lastPart.map { $0 >= (next, 0) } == true, "the held playlist lists \(next).0: \(String(describing: held.lastPart))")
            print("live rtmp: a blocking reload for \(next).0 was answered after \(waited)")
            let far = try await run("/usr/bin/curl", ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "\(edge)/v/show/source/index.m3u8?token=\(token)&_HLS_msn=\(next + 5)"], mergeErrors: false)
            #expect(far.output == "400", "more than two segments ahead: \(far.output)")
            let partOnly = try await run("/usr/bin/curl", ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "\(edge)/v/show/source/index.m3u8?token=\(token)&_HLS_part=1"], mergeErrors: false)
            #expect(partOnly.output == "400", "_HLS_part without _HLS_msn: \(partOnly.output)")

            // A part asked for before it is made is sent as it arrives at the host (no length
            // known when the answer begins), and it is the part served whole once it is complete.
            var streamedParts = 0
            for attempt in 0..<3 {
                let current = try LivePlaylist.parse(try await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)"))
                let hint = try #require(current.preloadHint?.split(separator: "?").first?.split(separator: "."))
                let (msn, part) = (Int(hint[0])!, Int(hint[1])!)
                let ahead = part + 1 < 4 ? "\(msn).\(part + 1).ts" : "\(msn + 1).0.ts"
                let url = "\(edge)/v/show/source/\(ahead)?token=\(token)"
                let early = try await run("/usr/bin/curl", ["-s", "-k", "-D", "-", "-o", network.dir.path + "/early-\(attempt).ts", url], mergeErrors: false)
                #expect(early.output.hasPrefix("HTTP/2 200"), "\(early.output)")
                let whole = try await run("/usr/bin/curl", ["-s", "-k", "-D", "-", "-o", network.dir.path + "/whole-\(attempt).ts", url], mergeErrors: false)
                #expect(whole.output.lowercased().contains("content-length:"), "a complete part has its length: \(whole.output)")
                let (earlyBytes, wholeBytes) = (
                    FileManager.default.contents(atPath: network.dir.path + "/early-\(attempt).ts"), FileManager.default.contents(atPath: network.dir.path + "/whole-\(attempt).ts")
                )
                #expect(earlyBytes != nil && earlyBytes == wholeBytes && (earlyBytes?.count ?? 0) > 1000, "\(ahead) as it arrived is the part")
                if !early.output.lowercased().contains("content-length:") { streamedParts += 1 }
            }
            #expect(streamedParts >= 1, "a part asked for ahead was sent while it arrived")

            // A host dies mid-stream: the ingest replaces it with the spare, which gets the window
            // and then every new part, and the stream goes on.
            // (The one the viewer does not use: route answers may put either first.)
            let victim = network.edges["first"]!.process.httpsBase == edge ? "second" : "first"
            let victimID = network.edges[victim]!.id
            network.edges[victim]!.process.kill(SIGKILL)
            let spare = network.edges["spare"]!.id
            let replaced = try await network.waitUntil(seconds: 15) {
                live.log.contains("host \(victimID) went away") && live.log.contains("pushing show to host \(spare)")
                    && FileManager.default.fileExists(atPath: network.dir.path + "/cache-spare/live/show/source/index.m3u8")
            }
            #expect(replaced, "\(live.log)")
            let before = try LivePlaylist.parse(try String(contentsOfFile: network.dir.path + "/cache-spare/live/show/source/index.m3u8", encoding: .utf8))
            try await Task.sleep(for: .seconds(2))
            let after = try LivePlaylist.parse(try String(contentsOfFile: network.dir.path + "/cache-spare/live/show/source/index.m3u8", encoding: .utf8))
            #expect(try #require(after.lastPart) > (try #require(before.lastPart)), "the spare keeps getting parts")
            for segment in after.segments {
                #expect(FileManager.default.fileExists(atPath: network.dir.path + "/cache-spare/live/show/source/\(segment.uri)"), "the spare holds \(segment.uri) its playlist lists")
            }

            // The pusher dies and comes back within the grace period: same title, a discontinuity.
            kill(pusher.processIdentifier, SIGKILL)  // (SIGTERM may be blocked in a child of the test runner)
            pusher.waitUntilExit()
            #expect(try await network.waitUntil(seconds: 10) { live.log.contains("waiting for it to come back") })
            // It comes back as OBS does: trying again while the ingest is not listening yet.
            var again = try startPusher(push, format: "flv", seconds: 8)
            for _ in 0..<5 {
                try await Task.sleep(for: .seconds(1))
                guard !again.isRunning, again.terminationStatus != 0 else { break }
                again = try startPusher(push, format: "flv", seconds: 8)
            }
            var lastSeen = ""
            let resumed = try await network.waitUntil(seconds: 20) {
                lastSeen = (try? await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)")) ?? ""
                return lastSeen.contains("#EXT-X-DISCONTINUITY")
            }
            #expect(resumed, "\(live.log)\n\(lastSeen)")
            again.waitUntilExit()
            #expect(!live.log.contains("live failed"))

            // The key is rotated at the coordinator: the old one no longer gets in.
            let rotated = try await network.client.send(.POST, "/v1/live/show/stream-key", headers: [("Authorization", "Bearer \(CoordinatorProcess.adminToken)")])
            #expect(rotated.status == 200 && (rotated.json["streamKey"] as? String).map(StreamKey.isValid) == true)
            let revoked = try startPusher(push, format: "flv", seconds: 3)
            revoked.waitUntilExit()
            #expect(try await network.waitUntil(seconds: 10) { live.log.contains("the stream key was revoked") }, "\(live.log)")

            // Nobody comes back: the stream ends and its recording is registered and hosted.
            #expect(await live.waitForExit(seconds: 60) == 0, "\(live.log)")
            #expect(live.log.contains("live: recording show registered at the coordinator"), "\(live.log)")
            let holders = (hosts + [spare]).filter { live.log.contains("uploaded show to \($0)") }
            #expect(!holders.isEmpty, "\(live.log)")
            let manifest = try JSONDecoder().decode(ContentManifest.self, from: Data(contentsOf: URL(fileURLWithPath: network.dir.path + "/live/show/manifest.json")))
            let seconds = manifest.segments.map(\.duration).reduce(0, +)
            #expect(seconds > 20, "the recording keeps both connections: \(seconds) s")
            #expect(manifest.renditionSegments?["360p"]?.count == manifest.segments.count)
            let vod = try await Self.viewer(network, avoiding: network.edges[victim]!.process.httpsBase)
            // A viewer right after the end plays the recording whole, both rungs. (Its hosts were
            // copying it from each other while it was uploaded to them; a fill of one from the
            // other, joined by the viewer, once answered 404 for a file that had landed: 1 run in
            // 4 lost a segment. A host now answers a peer only from what it holds.)
            let whole = try await run(
                "/usr/bin/ffmpeg",
                ["-v", "error", "-tls_verify", "0", "-i", "\(vod.edge)/v/show/master.m3u8?token=\(vod.token)", "-map", "0:v", "-f", "framecrc", "-"],
                mergeErrors: false)
            let frames = whole.output.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
            let perStream = Dictionary(grouping: whole.output.split(separator: "\n").filter { !$0.hasPrefix("#") }, by: { $0.prefix(while: { $0 != "," }) }).mapValues(\.count)
            print("live rtmp: the recording: \(frames) frames \(perStream) for \(seconds) s in \(manifest.segments.count) segments: \(manifest.segments.map { String(format: "%.3f", $0.duration) }.joined(separator: " "))")
            #expect(whole.status == 0 && Double(frames) >= seconds * 30 * 2 * 0.97, "the recording plays whole, both rungs: \(frames) frames for \(seconds) s")
            // And every segment of both rungs is there, each asked once.
            var missing: [String] = []
            for rung in ["source", "360p"] {
                for index in 0..<manifest.segments.count {
                    let code = try await run(
                        "/usr/bin/curl", ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "\(vod.edge)/v/show/\(rung)/\(index).ts?token=\(vod.token)"],
                        mergeErrors: false)
                    if code.output != "200" { missing.append("\(rung)/\(index).ts: \(code.output)") }
                }
            }
            #expect(missing.isEmpty, "the recording's segments through \(vod.edge): \(missing)")

            // Its hosts are challenged on it like any title, and pass.
            let passed = try await network.waitUntil(seconds: 60) {
                let outcomes = try await network.challengeOutcomes().filter { $0[1] == "show" }.map { [$0[0], $0[3]] }
                return holders.allSatisfy { host in outcomes.contains { $0 == [host, "pass"] } } && outcomes.allSatisfy { $0.last == "pass" || $0.first == victimID }
            }
            #expect(passed, "\(network.coordinator.log.suffix(800))")
            let latency = live.log.split(separator: "\n").filter { $0.contains("entered → stored") }
            print("live rtmp: \(latency.joined(separator: " | "))")
        }

        @Test("through delivery edges: a viewer far from the hosts plays from an edge that fills the live title from a delivery edge nearer the hosts, which fills from them, and its bytes are receipted; the rules of blocking reloads and delta updates hold there and at a host; 500 viewers blocked on one part (two tokens, parameters in any order) cost the hosts one playlist request per part made, not per viewer, and the hinted part is fetched once for all; the host it fills from killed mid-stream, the viewer plays on; the stream stopped dead, a reload for what cannot come is 503 after three target durations")
        func delivery() async throws {
            let port = freeLoopbackPort()
            // Ten segments: more than the 12 s a delta update keeps.
            let (network, live, _) = try await Self.start("live-relay", listen: "rtmp://127.0.0.1:\(port)/live", relay: true, window: 10)
            defer {
                live.stop()
                network.stop()
            }
            let pusher = try startPusher(try await live.pushURL(), format: "flv", seconds: 60)
            defer {
                kill(pusher.processIdentifier, SIGKILL)
                pusher.waitUntilExit()
            }
            #expect(try await network.waitUntil(seconds: 20) { live.log.contains("live: streaming") })
            try await Task.sleep(for: .seconds(3))
            // A viewer in New York goes to the edge there, which holds nothing of the title.
            let route = try await network.client.send(.GET, "/v1/route?content=show&lat=40.7&lon=-74.0")
            let token = try #require(route.json["token"] as? String)
            let first = try #require((route.json["edges"] as? [[String: Any]])?.first)
            #expect(first["id"] as? String == network.edges["relay"]!.id, "\(route.json)")
            let edge = network.edges["relay"]!.process.httpsBase
            let played = try await Self.play(edge, token: token, seconds: 10)
            #expect(played.status == 0, "\(played.output.suffix(600))")
            #expect(played.frames >= 290, "ffmpeg decoded \(played.frames) frames of the live stream through the delivery edge in 10 s")
            // Tiers: the coordinator told New York to fill from Boston before the hosts, and Boston
            // (where no viewer asked) follows the rung from the hosts for it.
            let boston = [network.edges["boston"]!.process.httpBase]
            #expect(try await Self.metric(boston, #"depin_live_relay_upstream_playlists_total{rung="source"}"#) > 0, "Boston relays for New York")
            // The live bytes it delivered come back as receipts, as for a published title.
            let receiptsFile = network.dir.path + "/cache-relay/claims/receipts.jsonl"
            func liveReceipts() -> Int64 { ReceiptTests.receipts(receiptsFile).values.filter { $0.content == "show" }.reduce(0) { $0 + $1.bytes } }
            #expect(try await network.waitUntil(seconds: 15) { liveReceipts() > 1_000_000 }, "receipted \(liveReceipts()) bytes\n\(network.edges["relay"]!.process.log.suffix(600))")
            #expect(!network.edges["relay"]!.process.log.contains("refused: "), "\(network.edges["relay"]!.process.log.suffix(600))")


            // 500 viewers ask for the playlist that will list the hinted part, all at once, with
            // two tokens and their query parameters in other orders and with others among them.
            // The relay asks the hosts once per playlist update, whatever the viewers: the
            // requests counted at the hosts for the source rung are at most the parts made
            // meanwhile, plus the one it has open.
            let other = try #require(try await network.client.send(.GET, "/v1/route?content=show&lat=40.7&lon=-74.0").json["token"] as? String)
            let hosts = ["first", "second"].map { network.edges[$0]!.process.httpBase }
            let relay = [network.edges["relay"]!.process.httpBase]
            let playlistsAtHosts = #"depin_live_hosted_playlists_total{rung="source"}"#, mediaAtHosts = #"depin_live_hosted_media_total{rung="source"}"#
            let fromRelay = #"depin_live_relay_upstream_playlists_total{rung="source"}"#
            let current = try LivePlaylist.parse(try await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)"))
            let hint = try #require(current.preloadHint?.split(separator: "?").first.map(String.init))
            let numbers = hint.split(separator: ".").compactMap { Int($0) }
            let (hostsBefore, relayBefore) = (try await Self.metric(hosts, playlistsAtHosts), try await Self.metric(relay, fromRelay))
            let client = Self.viewersClient
            let urls = [
                "\(edge)/v/show/source/index.m3u8?token=\(token)&_HLS_msn=\(numbers[0])&_HLS_part=\(numbers[1])",
                "\(edge)/v/show/source/index.m3u8?_HLS_part=\(numbers[1])&x=1&_HLS_msn=\(numbers[0])&token=\(other)",
            ]
            let answers = try await Self.fetchAll(client, (0..<500).map { urls[$0 % 2] })
            let (hostsAfter, relayAfter) = (try await Self.metric(hosts, playlistsAtHosts), try await Self.metric(relay, fromRelay))
            let after = try LivePlaylist.parse(try await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)"))
            #expect(answers.allSatisfy { $0.status == 200 }, "\(Set(answers.map(\.status)))")
            let listed = try answers.map { try LivePlaylist.parse(String(decoding: $0.body, as: UTF8.self)).lastPart.map { $0 >= (numbers[0], numbers[1]) } ?? false }
            #expect(listed.allSatisfy { $0 }, "every blocked viewer got a playlist listing \(hint)")
            let made = Self.partsBetween(current, after)
            print("live relay: 500 viewers blocked on \(hint): \(hostsAfter - hostsBefore) playlist requests at the hosts, \(relayAfter - relayBefore) from the relay, \(made) parts made meanwhile")
            #expect(hostsAfter - hostsBefore <= Double(made + 1) && relayAfter - relayBefore <= Double(made + 1))

            // 500 viewers ask for the next hinted part at once: filled from a host once, ahead of
            // them, and the same bytes to all.
            let next = try LivePlaylist.parse(String(decoding: answers[0].body, as: UTF8.self))
            let nextHint = try #require(next.preloadHint?.split(separator: "?").first.map(String.init))
            let mediaBefore = try await Self.metric(hosts, mediaAtHosts)
            let parts: [(status: Int, body: [UInt8])]
            do {
                parts = try await Self.fetchAll(client, Array(repeating: "\(edge)/v/show/source/\(nextHint)?token=\(token)", count: 500))
            } catch {
                Issue.record("500 requests for \(nextHint) failed: \(error)\n\(network.edges["relay"]!.process.log.suffix(3000))")
                throw error
            }
            let mediaAfter = try await Self.metric(hosts, mediaAtHosts)
            let later = try LivePlaylist.parse(try await fetchText("\(edge)/v/show/source/index.m3u8?token=\(token)"))
            #expect(parts.allSatisfy { $0.status == 200 && $0.body == parts[0].body && $0.body.count > 1000 }, "\(Set(parts.map(\.status)))")
            let madeThen = Self.partsBetween(next, later)
            print("live relay: 500 viewers of part \(nextHint): \(mediaAfter - mediaBefore) part requests at the hosts, \(madeThen) parts made meanwhile")
            #expect(mediaAfter - mediaBefore <= Double(madeThen + 1), "one request per part made, whatever the viewers")

            // (By now the window is longer than the 12 s a delta update keeps.)
            try await Self.checkReloadRules(edge: edge, token: token)
            // The same rules at a host, which answers from its live store.
            try await Self.checkReloadRules(edge: network.edges["first"]!.process.httpsBase, token: token)

            // A host dies while ffmpeg plays through the delivery edge: it fills from the other.
            async let playing = Self.play(edge, token: token, seconds: 10)
            try await Task.sleep(for: .seconds(3))
            // (The host nearest the delivery edge, which it fills from first.)
            network.edges["second"]!.process.kill(SIGKILL)
            // New York's heartbeats say how many viewers it serves (the last route look-up was
            // more than a heartbeat ago, so this is what it reported): the coordinator's figure
            // routes the next viewers elsewhere once it reaches New York's capacity.
            let relayID = network.edges["relay"]!.id
            func relayViewers() async throws -> Int { try await network.client.send(.GET, "/v1/nodes/\(relayID)").json["viewers"] as? Int ?? 0 }
            #expect(try await network.waitUntil(seconds: 12) { (try? await relayViewers()) ?? 0 >= 1 }, "New York reported no viewers")
            let through = try await playing
            #expect(through.status == 0, "\(through.output.suffix(600))")
            #expect(through.frames >= 285, "ffmpeg decoded \(through.frames) frames in 10 s with a host killed after 3")

            // The stream stops dead (the ingest killed: no end is published). A reload for two
            // segments past the relay's newest, which can never come, is held for three target
            // durations and answered 503 with the reason.
            kill(live.process.processIdentifier, SIGKILL)
            live.process.waitUntilExit()
            let stopped = try #require(try LivePlaylist.parse(try await Self.get("\(edge)/v/show/source/index.m3u8?token=\(token)").text).lastPart)
            let never = try await Self.get("\(edge)/v/show/source/index.m3u8?token=\(token)&_HLS_msn=\(stopped.sequence + 2)")
            #expect(never.status == 503 && never.text.contains("did not come within three target durations"), "\(never.status) \(never.text.prefix(200))")
        }

        /// The rules of a blocking reload and of a delta update (RFC 8216bis 6.2.5), checked at an
        /// edge that relays or hosts a live title: bad directives are 400, a reload is held until
        /// the part it names is listed and may then be kept for six target durations, a delta
        /// update is the same playlist less its old segments, and the copy never goes back.
        static func checkReloadRules(edge: String, token: String) async throws {
            let base = "\(edge)/v/show/source/index.m3u8?token=\(token)"
            let plain = try await Self.get(base)
            #expect(plain.status == 200 && plain.cacheControl == "private, no-cache", "\(plain.cacheControl ?? "no Cache-Control")")
            let now = try LivePlaylist.parse(plain.text)
            let newest = try #require(now.lastPart)
            for (query, why) in [
                ("&_HLS_part=1", "_HLS_part without _HLS_msn"), ("&_HLS_msn=x", "not a number"), ("&_HLS_msn=-1", "negative"),
                ("&_HLS_skip=NO", "_HLS_skip neither YES nor v2"),
            ] {
                let answer = try await Self.get(base + query)
                #expect(answer.status == 400, "\(why): \(answer.status) \(answer.text.prefix(200))")
            }
            // Three past the newest segment is 400, unless a segment came between the two requests
            // (then it is two past, and held): asked again from the newer playlist, at most thrice.
            var tooFar: (status: Int, text: String) = (0, "")
            for _ in 0..<3 {
                let newestNow = try #require(try LivePlaylist.parse(try await Self.get(base).text).lastPart)
                let answer = try await Self.get(base + "&_HLS_msn=\(newestNow.sequence + 3)")
                tooFar = (answer.status, answer.text)
                if answer.status == 400 { break }
                let listed = try #require(try LivePlaylist.parse(answer.text).lastPart)
                #expect(listed.sequence > newestNow.sequence, "held though no segment came: \(answer.text.prefix(200))")
            }
            #expect(tooFar.status == 400, "more than two segments past the newest: \(tooFar.status) \(tooFar.text.prefix(200))")
            let hint = try #require(now.preloadHint.map { $0.split(separator: "?")[0].split(separator: ".").compactMap { Int($0) } })
            let held = try await Self.get(base + "&_HLS_msn=\(hint[0])&_HLS_part=\(hint[1])")
            #expect(held.status == 200 && held.cacheControl == "private, max-age=12", "\(held.status) \(held.cacheControl ?? "")")
            let heldPlaylist = try LivePlaylist.parse(held.text)
            #expect(try #require(heldPlaylist.lastPart) >= (hint[0], hint[1]), "held until the hinted part \(hint) was listed")

            // Delta updates (the playlist offers them: ten 2 s segments, 12 s kept).
            #expect(heldPlaylist.canSkipUntil == 12)
            for skip in ["YES", "v2"] {
                let query = "&_HLS_msn=\(hint[0])&_HLS_part=\(hint[1])"
                let (delta, full) = (try await Self.get(base + query + "&_HLS_skip=\(skip)"), try await Self.get(base + query))
                let (skipped, whole) = (try LivePlaylist.parse(delta.text), try LivePlaylist.parse(full.text))
                #expect(delta.status == 200 && delta.text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=") && skipped.skippedSegments > 0, "\(delta.text.prefix(600))")
                if whole.lastPart! == skipped.lastPart! {
                    #expect(skipped.mediaSequence == whole.mediaSequence && skipped.skippedSegments == whole.delta()?.skippedSegments)
                    #expect(skipped.segments.map(\.uri) == Array(whole.segments.suffix(skipped.segments.count).map(\.uri)))
                    #expect(skipped.skippedSegments + skipped.segments.count == whole.segments.count)
                    #expect(skipped.pendingParts.map(\.uri) == whole.pendingParts.map(\.uri) && skipped.preloadHint == whole.preloadHint)
                }
            }

            // The copy here only moves on.
            var seen = newest
            for _ in 0..<20 {
                let next = try #require(try LivePlaylist.parse(try await Self.get(base).text).lastPart)
                #expect(next >= seen, "a playlist listing \(next) after one listing \(seen)")
                if next > seen { seen = next }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        /// One GET through the viewers' client: status, Cache-Control and body.
        static func get(_ url: String) async throws -> (status: Int, cacheControl: String?, text: String) {
            let response = try await viewersClient.execute(HTTPClientRequest(url: url), timeout: .seconds(20))
            let body = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), response.headers.first(name: "cache-control"), String(buffer: body))
        }

        /// How many parts `later` lists past `earlier`'s newest (4 parts a segment).
        static func partsBetween(_ earlier: LivePlaylist, _ later: LivePlaylist) -> Int {
            guard let a = earlier.lastPart, let b = later.lastPart else { return 0 }
            return max(0, (b.sequence * 4 + b.part) - (a.sequence * 4 + a.part))
        }

        /// The sum of a counter (`name{labels}` as Prometheus writes it) on every edge's /metrics.
        static func metric(_ bases: [String], _ name: String) async throws -> Double {
            var total = 0.0
            for base in bases {
                let text = try await run("/usr/bin/curl", ["-s", "\(base)/metrics"], mergeErrors: false).output
                for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
                    total += Double(line.split(separator: " ").last ?? "") ?? 0
                }
            }
            return total
        }

        /// A client for the test process's whole life (never shut down), HTTP/2 where offered; the
        /// network's certificate is self-signed for loopback.
        static let viewersClient: HTTPClient = {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
            configuration.httpVersion = .automatic
            // 500 requests queue for one HTTP/2 connection's 100 streams: the wait for a stream
            // counts against the connection timeout (10 s by default), which a debug build on a
            // loaded machine can pass. The tests count requests, not time.
            configuration.timeout.connect = .seconds(90)
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        }()

        /// A GET of each of `urls`, all at once: each answer's status and body.
        static func fetchAll(_ client: HTTPClient, _ urls: [String]) async throws -> [(status: Int, body: [UInt8])] {
            try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for url in urls {
                    group.addTask {
                        // (A count of upstream requests is checked, not time: 500 requests share one
                        // HTTP/2 connection of 100 streams, which a debug build on a loaded machine
                        // can take more than 20 s to get through.)
                        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(90))
                        let body = try await response.body.collect(upTo: 16 << 20)
                        return (Int(response.status.code), Array(body.readableBytesView))
                    }
                }
                var all: [(status: Int, body: [UInt8])] = []
                for try await answer in group { all.append(answer) }
                return all
            }
        }

        @Test("over SRT: the stream id carries the stream key, a caller with another id or none is refused, a passphrase is enforced in the handshake, and ffmpeg plays the stream through an edge")
        func srt() async throws {
            let port = freeLoopbackPort()
            let passphrase = "contribution-secret-1"
            let (network, live, _) = try await Self.start("live-srt", listen: "srt://127.0.0.1:\(port)") { network in
                FileManager.default.createFile(atPath: network.dir.path + "/srt-passphrase", contents: Data(passphrase.utf8))
                return ["--srt-passphrase-file", network.dir.path + "/srt-passphrase"]
            }
            defer {
                live.stop()
                network.stop()
            }
            let push = try await live.pushURL()
            let key = try #require(push.split(separator: "=").dropFirst().first?.split(separator: "&").first.map(String.init))
            #expect(push == "srt://127.0.0.1:\(port)?streamid=\(key)&passphrase=\(passphrase)&pbkeylen=16" && StreamKey.isValid(key), "\(push)")
            // The right passphrase with another stream id, or none: refused once libsrt accepted it.
            for (query, refusal) in [("streamid=WRONGwrongWRONGwrong&", "with the wrong stream id"), ("", "without a stream id")] {
                let caller = try startPusher("srt://127.0.0.1:\(port)?\(query)passphrase=\(passphrase)&pbkeylen=16", format: "mpegts", seconds: 3)
                #expect(try await network.waitUntil(seconds: 15) { live.log.contains("refused an SRT caller \(refusal)") }, "\(live.log)")
                kill(caller.processIdentifier, SIGKILL)
                caller.waitUntilExit()
            }
            // The key without the passphrase: libsrt refuses it in the handshake.
            let wrong = try startPusher("srt://127.0.0.1:\(port)?streamid=\(key)", format: "mpegts", seconds: 3)
            wrong.waitUntilExit()
            #expect(wrong.terminationStatus != 0)
            for name in ["first", "second"] { #expect(!FileManager.default.fileExists(atPath: network.dir.path + "/cache-\(name)/live/show")) }
            #expect(!live.log.contains("live: streaming"))

            let pusher = try startPusher(push, format: "mpegts", seconds: 20)
            #expect(try await network.waitUntil(seconds: 20) { live.log.contains("live: streaming") })
            try await Task.sleep(for: .seconds(3))
            let (edge, token) = try await Self.viewer(network)
            let played = try await Self.play(edge, token: token, seconds: 10)
            #expect(played.status == 0, "\(played.output.suffix(600))")
            #expect(played.frames >= 290, "ffmpeg decoded \(played.frames) frames in 10 s")
            pusher.waitUntilExit()
            #expect(await live.waitForExit(seconds: 60) == 0, "\(live.log)")
            #expect(live.log.contains("live: recording show registered"), "\(live.log)")
        }
    }
}
