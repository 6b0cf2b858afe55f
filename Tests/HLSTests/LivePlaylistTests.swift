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

    @Test("a delta update skips the segments wholly past the skip boundary from the end (parts since the last segment count), keeps every number, and reads back; none without CAN-SKIP-UNTIL or once ended")
    func deltaUpdates() throws {
        let start = Date(timeIntervalSince1970: 1_796_520_000)
        let part = LivePlaylist.Part(duration: 0.5, uri: "x", independent: false)
        var playlist = LivePlaylist(targetDuration: 2, partTarget: 0.5, discontinuitySequence: 1, key: SegmentKey(method: .aes128, uri: "k.key"), canSkipUntil: 12)
        playlist.segments = (10..<20).map {
            LivePlaylist.Segment(sequence: $0, duration: 2, uri: "\($0).ts", programDateTime: start + Double(2 * $0), discontinuity: $0 == 12, parts: $0 >= 18 ? [part, part, part, part] : [])
        }
        playlist.pendingSequence = 20
        playlist.pendingParts = [part]
        playlist.preloadHint = "20.1.ts"
        let full = playlist.render()
        #expect(full.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=12.000\n"))
        #expect(!full.contains("EXT-X-SKIP:"))
        // 0.5 s of parts, then 19 ends 0.5 s before the end ... 14 ends 10.5 s before, 13 12.5 s
        // before: 10 to 13 are skipped.
        let delta = try #require(playlist.delta())
        #expect(delta.skippedSegments == 4 && delta.mediaSequence == 10 && delta.segments.first?.sequence == 14)
        let text = delta.render()
        #expect(text.hasPrefix("#EXTM3U\n#EXT-X-VERSION:9\n"))
        #expect(text.contains("#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"))
        #expect(text.contains("#EXT-X-KEY:METHOD=AES-128,URI=\"k.key\"\n#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n#EXT-X-PROGRAM-DATE-TIME:"))
        #expect(!text.contains("\n13.ts\n") && text.contains("\n14.ts\n") && text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"20.1.ts\""))
        let read = try LivePlaylist.parse(text)
        #expect(read.skippedSegments == 4 && read.mediaSequence == 10 && read.segments.map(\.sequence) == Array(14..<20))
        #expect(read.pendingSequence == 20 && read.lastPart! == (20, 0) && read.canSkipUntil == 12)
        #expect(read.delta() == nil, "a delta is not skipped again")

        var unoffered = playlist
        unoffered.canSkipUntil = nil
        #expect(unoffered.delta() == nil)
        var ended = playlist
        ended.endList = true
        #expect(ended.delta() == nil)
        #expect(throws: HLSError.self) { try LivePlaylist.parse("#EXTM3U\n#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n") }
    }

    @Test("rendition reports are brought up to newer copies of their rungs, never back; a rung known only to a segment without parts, or not known, is left as it was")
    func currentReports() throws {
        let text = """
            #EXTM3U
            #EXT-X-TARGETDURATION:2
            #EXT-X-PART-INF:PART-TARGET=0.5
            #EXT-X-MEDIA-SEQUENCE:5
            #EXT-X-PROGRAM-DATE-TIME:2026-12-06T01:27:14.123Z
            #EXTINF:2.000,
            5.ts
            #EXT-X-PART:DURATION=0.500,URI="6.0.ts"
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI="6.1.ts"
            #EXT-X-RENDITION-REPORT:URI="../480p/index.m3u8",LAST-MSN=6,LAST-PART=0
            #EXT-X-RENDITION-REPORT:URI="../360p/index.m3u8",LAST-MSN=6,LAST-PART=0
            #EXT-X-RENDITION-REPORT:URI="../240p/index.m3u8",LAST-MSN=6,LAST-PART=0

            """
        let newest: [String: (sequence: Int, part: Int)] = ["480p": (6, 2), "360p": (5, 3), "240p": (7, Int.max)]
        let updated = LivePlaylist.withCurrentReports(text) { newest[$0] }
        let reports = try LivePlaylist.parse(updated).reports
        #expect(reports.map(\.uri) == ["../480p/index.m3u8", "../360p/index.m3u8", "../240p/index.m3u8"])
        #expect(reports.map(\.lastSequence) == [6, 6, 6] && reports.map(\.lastPart) == [2, 0, 0])
        #expect(updated.replacingOccurrences(of: "LAST-MSN=6,LAST-PART=2", with: "LAST-MSN=6,LAST-PART=0") == text, "only that report changed")
        #expect(LivePlaylist.withCurrentReports(text) { _ in nil } == text)
    }
}
