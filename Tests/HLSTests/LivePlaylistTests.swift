import Foundation
import Testing

@testable import HLS

@Suite("Low-Latency HLS live playlists")
struct LivePlaylistTests {
    @Test("program date times are ISO 8601 in UTC with milliseconds, read back to the millisecond")
    func dates() throws {
        let date = Date(timeIntervalSince1970: 1_796_520_434.123)
        #expect(LivePlaylist.dateText(date) == "2026-12-06T01:27:14.123Z")
        #expect(LivePlaylist.dateText(Date(timeIntervalSince1970: 946_684_800)) == "2000-01-01T00:00:00.000Z")
        var playlist = LivePlaylist(targetDuration: 2, partTarget: 0.5, pendingSequence: 8)
        playlist.segments = [LivePlaylist.Segment(sequence: 7, duration: 2, uri: "7.ts", programDateTime: date, discontinuity: false, parts: [])]
        let read = try LivePlaylist.parse(playlist.render())
        #expect(abs(try #require(read.segments.first).programDateTime.timeIntervalSince(date)) < 0.001)
    }
}
