import DePINProtocol
import Media
import HLS

/// The playlists of a published title, made from its manifest: the master lists the source and
/// every ladder rendition (none taller than the source); every rendition shares one media
/// playlist shape (same segments, durations, key and IVs), since renditions are cut exactly
/// where the source is.
struct PlaylistSet {
    let master: MasterPlaylist
    let media: MediaPlaylist

    /// Bits per second the muxing and audio add on top of a rendition's video bitrate.
    static let audioAndOverhead = 128_000 + 64_000

    init(manifest: ContentManifest, keyURI: String) {
        let key = SegmentKey(method: .aes128, uri: keyURI)
        media = MediaPlaylist(
            version: 3, mediaSequence: 0, playlistType: .vod, independentSegments: true, endList: true,
            segments: manifest.segments.map { MediaSegmentEntry(duration: $0.duration, uri: "\($0.index).ts", key: key) })
        let source = manifest.source
        var variants = [
            Variant(
                bandwidth: source.bandwidth, averageBandwidth: source.averageBandwidth, width: source.width, height: source.height,
                codecs: source.codecs, frameRate: source.frameRate, uri: "\(ContentManifest.sourceRendition)/index.m3u8")
        ]
        for rendition in manifest.ladder {
            let extra = source.hasAudio ? Self.audioAndOverhead : 64_000
            variants.append(
                Variant(
                    bandwidth: rendition.maxBitrate + extra, averageBandwidth: rendition.videoBitrate + extra,
                    width: rendition.width, height: rendition.height,
                    codecs: RenditionCodecs.string(profile: manifest.transcode.profile, width: rendition.width, height: rendition.height, hasAudio: source.hasAudio),
                    frameRate: source.frameRate, uri: "\(rendition.name)/index.m3u8"))
        }
        master = MasterPlaylist(version: 3, independentSegments: true, variants: variants)
    }
}

/// RFC 6381 codec strings for renditions this network makes (libx264 at a known profile).
enum RenditionCodecs {
    static func string(profile: String, width: Int, height: Int, hasAudio: Bool) -> String {
        let idc = ["baseline": "42E0", "main": "4D00", "high": "6400"][profile] ?? "6400"
        let level = width * height > 1280 * 720 ? "28" : "1F"
        return "avc1." + idc + level + (hasAudio ? ",mp4a.40.2" : "")
    }
}
