import Foundation
import HLS
import Testing

@Suite("Playlist rewriting for viewers")
struct PlaylistRewriterTests {
    static let master = """
        #EXTM3U
        #EXT-X-VERSION:3
        #EXT-X-INDEPENDENT-SEGMENTS
        #EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
        source/index.m3u8
        #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=854x480,CODECS="avc1.64001f,mp4a.40.2"
        480p/index.m3u8

        """

    @Test("keys point at the edge's own key endpoint; every other URI carries the token")
    func keysOnTheSameOrigin() {
        let media = "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://coord/v1/hls-key/t\",IV=0x01\n#EXTINF:4,\n0.ts\n#EXT-X-ENDLIST\n"
        let out = PlaylistRewriter.rewrite(media, token: "T", content: "t")
        #expect(out.contains("#EXT-X-KEY:METHOD=AES-128,URI=\"/v/t/key?token=T\",IV=0x01"))
        #expect(out.contains("\n0.ts?token=T\n"))
    }

    @Test("a token template fills in any token exactly as the rewrite writes it, for media and master playlists; a playlist with a NUL byte gets none")
    func tokenTemplate() throws {
        let live = """
            #EXTM3U
            #EXT-X-TARGETDURATION:2
            #EXT-X-KEY:METHOD=AES-128,URI="../../show.key"
            #EXT-X-PART:DURATION=0.5,URI="7.0.ts",INDEPENDENT=YES
            #EXT-X-PART:DURATION=0.5,URI="7.1.ts?x=1"
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI="7.2.ts"
            #EXT-X-RENDITION-REPORT:URI="../480p/index.m3u8",LAST-MSN=7,LAST-PART=1

            """
        for text in [live, Self.master] {
            let template = try #require(TokenTemplate(text, content: "show"))
            for token in ["T", "", "eyJ.a-b_c.xyz", String(repeating: "k", count: 600)] {
                #expect(String(decoding: template.filled(with: token), as: UTF8.self) == PlaylistRewriter.rewrite(text, token: token, content: "show"))
            }
        }
        #expect(TokenTemplate("#EXTM3U\n0.ts\u{0}\n", content: "show") == nil)
    }

    @Test("a steered master repeats every variant once per pathway, in order, this edge's relative and the others' on their origins")
    func steered() throws {
        let out = try #require(
            PlaylistRewriter.steered(
                Self.master, token: "T", content: "t", pathways: [("b", "https://b.example:8443"), ("a", "https://a.example/")], own: "a",
                steeringServer: "https://coord"))
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.prefix(3) == ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"])
        #expect(lines[3] == "#EXT-X-CONTENT-STEERING:SERVER-URI=\"https://coord/v1/steering/t?token=T\",PATHWAY-ID=\"a\"")
        #expect(lines[4].hasSuffix("CODECS=\"avc1.64001f,mp4a.40.2\",PATHWAY-ID=\"b\"") && lines[4].contains("RESOLUTION=1280x720"))
        #expect(lines[5] == "https://b.example:8443/v/t/source/index.m3u8?token=T")
        #expect(lines[7] == "https://b.example:8443/v/t/480p/index.m3u8?token=T")
        #expect(lines[8].hasSuffix("PATHWAY-ID=\"a\"") && lines[9] == "source/index.m3u8?token=T")
        #expect(lines[11] == "480p/index.m3u8?token=T")
        #expect(lines.count == 12)
    }

    @Test("playlists that cannot be steered as written are left to the plain rewrite")
    func notSteerable() {
        let steer = { (text: String, pathways: [(id: String, url: String)]) in
            PlaylistRewriter.steered(text, token: "T", content: "t", pathways: pathways, own: "a", steeringServer: "https://c")
        }
        let one = [(id: "a", url: "https://a")]
        #expect(steer(Self.master, []) == nil, "no pathway")
        #expect(steer(Self.master, [(id: "a b", url: "https://a")]) == nil, "an illegal pathway id")
        #expect(steer("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n0.ts\n", one) == nil, "a media playlist")
        #expect(steer(Self.master.replacingOccurrences(of: "#EXT-X-VERSION:3", with: "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\",URI=\"a.m3u8\""), one) == nil)
        #expect(steer(Self.master + "#EXT-X-CONTENT-STEERING:SERVER-URI=\"x\"\n", one) == nil, "steered already")
        #expect(steer("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", one) == nil, "a variant without a URI")
        #expect(steer(Self.master, one) != nil)
    }

    @Test("CRLF, CR and LF line ends, a byte-order mark and spaces around lines: every reader sees the same lines, and the rewrite keeps each line's end")
    func lineEnds() throws {
        let media = "\u{FEFF}#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\r\n  #EXTINF:4,\t\r\n 0.ts \r\n\n#EXT-X-ENDLIST\r\n"
        let lines = Array(PlaylistLines(media))
        #expect(lines.map(\.text) == ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-KEY:METHOD=AES-128,URI=\"k\"", "#EXTINF:4,", "0.ts", "", "#EXT-X-ENDLIST", ""])
        #expect(lines.map(\.end) == ["\r\n", "\r", "\r\n", "\r\n", "\r\n", "\n", "\r\n", ""])
        #expect(lines[1].value(of: "#EXT-X-TARGETDURATION") == "4" && lines[1].value(of: "#EXT-X-TARGET") == nil)
        #expect(PlaylistInfo(parsing: Array(media.utf8)) == PlaylistInfo(isMaster: false, hasEndList: true, targetDuration: 4))
        let out = PlaylistRewriter.rewrite(media, token: "T", content: "t")
        #expect(out == "#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r#EXT-X-KEY:METHOD=AES-128,URI=\"/v/t/key?token=T\"\r\n  #EXTINF:4,\t\r\n0.ts?token=T\r\n\n#EXT-X-ENDLIST\r\n")
        guard case .media(let parsed) = try Playlist.parse(media) else {
            Issue.record("a media playlist")
            return
        }
        #expect(parsed.segments.map(\.uri) == ["0.ts"] && parsed.targetDuration == 4)
    }
}
