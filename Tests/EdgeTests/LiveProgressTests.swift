import Foundation
import HLS
import NIOCore
import Synchronization
import Testing

@testable import Edge

@Suite("What a live rung's newest playlist says, and what a relay asks for next")
struct LiveProgressTests {
    static func playlist(sequence: Int, parts: Int, ended: Bool = false) throws -> LivePlaylist {
        try LivePlaylist.parse(String(buffer: LiveHostedStoreTests.playlist(sequence: sequence, parts: parts, ended: ended)))
    }

    @Test("moves only forwards; a blocking reload is ready, too far, or must wait, as RFC 8216bis says")
    func progress() throws {
        var progress = LiveProgress()
        let first = try Self.playlist(sequence: 4, parts: 2)
        #expect(progress.accepts(first) && progress.isOlder(than: first))
        progress.advance(to: first)
        #expect(progress.last.sequence == 5 && progress.last.part == 1 && progress.complete == 4 && progress.sequence == 4)
        #expect(progress.reload(sequence: 5, part: 1) == .ready)
        #expect(progress.reload(sequence: 5, part: 2) == nil, "the next part is waited for")
        #expect(progress.reload(sequence: 5, part: nil) == nil, "the whole segment is not there yet")
        #expect(progress.reload(sequence: 4, part: nil) == .ready)
        #expect(progress.reload(sequence: 7, part: 0) == nil, "two segments ahead is allowed")
        #expect(progress.reload(sequence: 8, part: 0) == .tooFar)
        let older = try Self.playlist(sequence: 4, parts: 1)
        #expect(!progress.accepts(older) && !progress.isOlder(than: older))
        #expect(!progress.isOlder(than: first), "the same playlist is no news")
        let ended = try Self.playlist(sequence: 5, parts: 0, ended: true)
        #expect(progress.isOlder(than: ended))
        progress.advance(to: ended)
        #expect(progress.ended && progress.reload(sequence: 99, part: 0) == .ready, "after the end every reload is answered at once")
    }

    @Test("a relay follows media playlists only, and asks for the hinted part next (else the next segment)")
    func nextWanted() {
        #expect(LiveRelay.rung(of: "source/index.m3u8") == "source")
        #expect(LiveRelay.rung(of: "master.m3u8") == nil && LiveRelay.rung(of: "a/b/index.m3u8") == nil && LiveRelay.rung(of: "source/3.ts") == nil)
        var progress = LiveProgress()
        progress.last = (7, 2)
        func wanted(_ hint: String?) -> String {
            let next = LiveRelay.nextWanted(hint: hint, progress: progress)
            return "\(next.msn).\(next.part.map(String.init) ?? "-")"
        }
        #expect(wanted("7.3.ts") == "7.3")
        #expect(wanted("8.0.ts?token=x") == "8.0")
        #expect(wanted(nil) == "8.-")
        #expect(wanted("garbage") == "8.-")
    }

    @Test("held reloads: 200 waiters on one key all go on when it is announced; with nothing announced a reload times out (three target durations), and a wait returns after its limit")
    func heldReloads() async throws {
        let arrivals = Arrivals()
        let ready = Flag()
        let answers = await withTaskGroup(of: LiveReload.self) { group in
            for _ in 0..<200 {
                group.addTask { await arrivals.holdReload(on: "show/source") { (ready.value.withLock { $0 } ? .ready : nil, 2) } }
            }
            try? await Task.sleep(for: .milliseconds(200))
            ready.value.withLock { $0 = true }
            arrivals.announce("show/source")
            return await group.reduce(into: [LiveReload]()) { $0.append($1) }
        }
        #expect(answers.count == 200 && answers.allSatisfy { $0 == .ready })

        // Nothing comes: 503 once three target durations (1 s each) have passed, though another
        // key is announced meanwhile.
        async let late = arrivals.holdReload(on: "show/720p") { (nil, 1) }
        try await Task.sleep(for: .milliseconds(300))
        arrivals.announce("show/480p")
        #expect(await late == .timedOut)
        await arrivals.wait(for: "nothing", upTo: .milliseconds(100))  // returns: its limit passed
    }

    @Test("a held reload answered on an event loop: at once when ready; an announcement before it is ready holds it on; done is called exactly once")
    func heldReloadCallbacks() async throws {
        let arrivals = Arrivals()
        let outcomes = Mutex<[LiveReload]>([])
        arrivals.holdReload(on: "show/source", answer: { (.ready, 2) }) { outcome in outcomes.withLock { $0.append(outcome) } }
        #expect(outcomes.withLock { $0 } == [.ready])  // no wait, no task

        let stage = Mutex(0)  // 0: not there; 1: still not there after an announcement; 2: there
        let done = AsyncStream<LiveReload>.makeStream()
        arrivals.holdReload(on: "show/source", answer: { (stage.withLock { $0 } == 2 ? .ready : nil, 2) }) { outcome in
            done.continuation.yield(outcome)
        }
        stage.withLock { $0 = 1 }
        arrivals.announce("show/source")
        stage.withLock { $0 = 2 }
        arrivals.announce("show/source")
        arrivals.announce("show/source")  // nobody waits any more
        done.continuation.finish()
        var seen: [LiveReload] = []
        for await outcome in done.stream { seen.append(outcome) }
        #expect(seen == [.ready])
    }
}

/// A flag tasks share.
private final class Flag: Sendable {
    let value = Mutex(false)
}
