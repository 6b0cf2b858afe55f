import Edge
import Foundation
import HLS
import NIOCore
import TestSupport
import Testing

@Suite("The live store of a hosting edge")
struct LiveHostedStoreTests {
    static func playlist(sequence: Int, parts: Int, ended: Bool = false) -> ByteBuffer {
        let date = Date(timeIntervalSince1970: 1_800_000_000)
        var playlist = LivePlaylist(targetDuration: 2, partTarget: 0.5, pendingSequence: sequence)
        playlist.segments = [
            LivePlaylist.Segment(sequence: sequence, duration: 2, uri: "\(sequence).ts", programDateTime: date, discontinuity: false, parts: [])
        ]
        playlist.pendingSequence = sequence + 1
        playlist.pendingParts = (0..<parts).map { LivePlaylist.Part(duration: 0.5, uri: "\(sequence + 1).\($0).ts", independent: $0 == 0) }
        playlist.preloadHint = "\(sequence + 1).\(parts).ts"
        playlist.endList = ended
        return ByteBuffer(string: playlist.render())
    }

    @Test("takes only a live title's files, checked; a playlist never goes backwards and nothing changes after ENDLIST")
    func checks() throws {
        let dir = TemporaryDirectory("live-store")
        defer { dir.remove() }
        let store = try LiveHostedStore(root: dir.path + "/live")
        let block = ByteBuffer(bytes: [UInt8](repeating: 7, count: 32))
        #expect(throws: HostingError.self) { try store.put(content: "show", path: "../etc/passwd", body: block) }
        #expect(throws: HostingError.self) { try store.put(content: "show", path: "source/1.x.ts", body: block) }
        #expect(throws: HostingError.self) { try store.put(content: "show", path: "source/1.ts", body: ByteBuffer(bytes: [1, 2, 3])) }
        #expect(throws: HostingError.self) { try store.put(content: "show", path: "source/index.m3u8", body: ByteBuffer(string: "not a playlist")) }
        try store.put(content: "show", path: "source/1.0.ts", body: block)
        #expect(store.hosts("show") && !store.serves(content: "show", path: "source/1.0.ts"), "a rung is served from here once its playlist came")
        try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 4, parts: 2))
        #expect(store.serves(content: "show", path: "source/1.0.ts") && store.serves(content: "show", path: "source/index.m3u8"))
        #expect(!store.serves(content: "show", path: "master.m3u8") && !store.serves(content: "show", path: "360p/index.m3u8"))
        try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 4, parts: 3))
        let backwards = #expect(throws: HostingError.self) { try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 4, parts: 1)) }
        #expect(backwards?.code == .conflict)
        #expect(throws: HostingError.self) { try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 3, parts: 3)) }
        try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 5, parts: 0, ended: true))
        #expect(throws: HostingError.self) { try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 6, parts: 1)) }
        let text = String(decoding: try #require(FileManager.default.contents(atPath: dir.path + "/live/show/source/index.m3u8")), as: UTF8.self)
        #expect(text.contains("#EXT-X-ENDLIST"), "the last playlist taken is the one on disk")
    }

    @Test("a blocking reload waits for its part, refuses one too far ahead, and a request for the hinted part gets it when it lands")
    func waits() async throws {
        let dir = TemporaryDirectory("live-store-wait")
        defer { dir.remove() }
        let store = try LiveHostedStore(root: dir.path + "/live", arrivalWait: .seconds(5))
        try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 4, parts: 1))
        #expect(await store.reload(content: "show", rung: "source", sequence: 9, part: 0) == .tooFar)
        #expect(await store.reload(content: "show", rung: "source", sequence: 5, part: 0) == .ready)
        async let held = store.reload(content: "show", rung: "source", sequence: 5, part: 1)
        async let part = store.read(content: "show", path: "source/5.1.ts")
        try await Task.sleep(for: .milliseconds(200))
        try store.put(content: "show", path: "source/5.1.ts", body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 16)))
        try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 4, parts: 2))
        #expect(await held == .ready)
        #expect(await part?.wholeCount == 16)
    }

    @Test("a part is served while it arrives, from its first bytes; one that breaks off or is not whole blocks is not kept")
    func arriving() async throws {
        let dir = TemporaryDirectory("live-store-arriving")
        defer { dir.remove() }
        let store = try LiveHostedStore(root: dir.path + "/live", arrivalWait: .seconds(5))
        try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 4, parts: 1))
        // A viewer asks for the hinted part before its upload began: it is held, then streamed.
        async let early = store.read(content: "show", path: "source/5.1.ts")
        try await Task.sleep(for: .milliseconds(100))
        var arrival = try store.beginPart(content: "show", path: "source/5.1.ts")
        try store.append(ByteBuffer(bytes: [UInt8](repeating: 1, count: 20)), to: &arrival)
        guard case .arriving(let file) = try #require(await early) else {
            Issue.record("the hinted part was not served as it arrived")
            return
        }
        // The first bytes are there to read before the rest of the part is sent.
        #expect(try await file.chunk(at: 0)?.readableBytes == 20)
        let reader = Task { () -> Int in
            var total = 0
            try await file.read { total += $0.readableBytes }
            return total
        }
        try store.append(ByteBuffer(bytes: [UInt8](repeating: 2, count: 12)), to: &arrival)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/live/show/source/5.1.ts") == false)
        try store.endPart(arrival)
        #expect(try await reader.value == 32)
        #expect(await store.read(content: "show", path: "source/5.1.ts")?.wholeCount == 32)

        // Broken off midway: its reader fails (its response is reset), nothing is stored.
        var broken = try store.beginPart(content: "show", path: "source/5.2.ts")
        try store.append(ByteBuffer(bytes: [UInt8](repeating: 3, count: 16)), to: &broken)
        guard case .arriving(let brokenFile) = try #require(await store.read(content: "show", path: "source/5.2.ts")) else {
            Issue.record("an arriving part was not served as it arrived")
            return
        }
        store.abandon(broken, why: "the ingest went away")
        await #expect(throws: GrowingFile<ByteBuffer>.Broken.self) { try await brokenFile.read { _ in } }
        #expect(FileManager.default.fileExists(atPath: dir.path + "/live/show/source/5.2.ts") == false)

        // Not whole AES blocks when it ends: refused, not stored.
        var ragged = try store.beginPart(content: "show", path: "source/5.3.ts")
        try store.append(ByteBuffer(bytes: [UInt8](repeating: 4, count: 17)), to: &ragged)
        #expect(throws: HostingError.self) { try store.endPart(ragged) }
        #expect(FileManager.default.fileExists(atPath: dir.path + "/live/show/source/5.3.ts") == false)
        #expect(throws: HostingError.self) { try store.beginPart(content: "show", path: "source/index.m3u8") }
    }
}

extension LiveHostedStore.File {
    /// The size of a file read whole; nil for one still arriving.
    var wholeCount: Int? {
        if case .whole(let data) = self { data.count } else { nil }
    }
}
