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
        try store.put(content: "show", path: "source/index.m3u8", body: Self.playlist(sequence: 4, parts: 2))
        #expect(store.hosts("show"))
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
        #expect(await part?.count == 16)
    }
}
