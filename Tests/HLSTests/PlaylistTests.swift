import HLS
import Testing

@Suite("HLS playlists: writer and tolerant parser")
struct PlaylistTests {
    @Test("a media playlist with keys, byte ranges, maps and discontinuities survives render and parse")
    func mediaRoundTrip() throws {
        let key = SegmentKey(method: .aes128, uri: "https://keys.example/v1/hls-key/t?token=a,b", iv: Array(0..<16))
        let other = SegmentKey(method: .aes128, uri: "key2")
        let map = MediaMap(uri: "init.mp4", byteRange: PlaylistByteRange(length: 700, offset: 0))
        let playlist = MediaPlaylist(
            version: 4, mediaSequence: 7, playlistType: .vod, independentSegments: true, endList: true,
            segments: [
                MediaSegmentEntry(duration: 4, uri: "0.ts", key: key),
                MediaSegmentEntry(duration: 3.967, uri: "all.ts", byteRange: PlaylistByteRange(length: 1000, offset: 0), key: key),
                MediaSegmentEntry(duration: 4.5, uri: "all.ts", byteRange: PlaylistByteRange(length: 2000, offset: nil), key: other,
                                  map: map, discontinuity: true),
                // A map applies until the next one; a key until the next key.
                MediaSegmentEntry(duration: 1, uri: "clear.ts", map: map),
            ])
        let text = playlist.render()
        #expect(text.contains("#EXT-X-TARGETDURATION:5"))
        #expect(text.contains("#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/v1/hls-key/t?token=a,b\",IV=0x000102030405060708090a0b0c0d0e0f"))
        #expect(text.contains("#EXT-X-KEY:METHOD=NONE"))
        #expect(text.contains("#EXTINF:3.967,"))
        guard case .media(let parsed) = try Playlist.parse(text) else {
            Issue.record("parsed as a master playlist")
            return
        }
        #expect(parsed == playlist)
    }

    @Test("a master playlist survives render and parse")
    func masterRoundTrip() throws {
        let master = MasterPlaylist(variants: [
            Variant(bandwidth: 5_200_000, averageBandwidth: 4_000_000, width: 1920, height: 1080, codecs: "avc1.640028,mp4a.40.2", frameRate: 29.97, uri: "source/index.m3u8"),
            Variant(bandwidth: 992_000, width: 640, height: 360, codecs: "avc1.64001F,mp4a.40.2", frameRate: 30, uri: "360p/index.m3u8"),
        ])
        let text = master.render()
        #expect(text.contains("#EXT-X-STREAM-INF:BANDWIDTH=5200000,AVERAGE-BANDWIDTH=4000000,CODECS=\"avc1.640028,mp4a.40.2\",RESOLUTION=1920x1080,FRAME-RATE=29.970"))
        #expect(try Playlist.parse(text) == .master(master))
    }

    @Test("parses what players accept: BOM, CRLF, blank lines, spaces, unknown tags, lowercase hex, short IVs")
    func tolerant() throws {
        let text = "\u{FEFF}#EXTM3U\r\n\r\n#EXT-X-VERSION:3\r\n#EXT-X-TARGETDURATION:10\r\n#EXT-X-SOMETHING-NEW:X=1\r\n"
            + "  #EXT-X-KEY:METHOD=AES-128 , URI=\"k\" ,IV=0xff\r\n#EXTINF:9.5\r\n a.ts \r\n# a comment\r\n#EXTINF:10,title, with comma\r\nb.ts\r\n"
        guard case .media(let playlist) = try Playlist.parse(text) else {
            Issue.record("not a media playlist")
            return
        }
        #expect(playlist.segments.map(\.uri) == ["a.ts", "b.ts"])
        #expect(playlist.segments.map(\.duration) == [9.5, 10])
        #expect(playlist.segments[1].title == "title, with comma")
        #expect(playlist.segments[0].key?.iv == Array(repeating: 0, count: 15) + [255])
        #expect(playlist.endList == false)
    }

    @Test("refuses what no player could use, naming the line")
    func refusals() {
        let cases: [(String, String)] = [
            ("#EXT-X-VERSION:3\n", "does not start with #EXTM3U"),
            ("#EXTM3U\n#EXTINF:abc,\na.ts\n", "line 2"),
            ("#EXTM3U\na.ts\n", "without a preceding EXTINF"),
            ("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128\n#EXTINF:1,\na.ts\n", "without URI"),
            ("#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=0xZZ\n", "128-bit hex"),
            ("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n", "BANDWIDTH"),
            ("#EXTM3U\n#EXT-X-TARGETDURATION:-4\n", "non-negative integer"),
        ]
        for (text, words) in cases {
            do {
                _ = try Playlist.parse(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(words), "\(error)")
            }
        }
    }
}
