import DePINProtocol
import Foundation
import HLS

/// Turns a finished live title into the VOD title `depin publish` would have made: the manifest
/// over the source rung's segments and VOD playlists listing every segment from the first.
package enum LiveRecording {
    /// Writes `manifest.json` and the VOD playlists to `destination`.
    package static func write(manifest: ContentManifest, keyURI: String, into destination: any LiveDestination) throws {
        try manifest.validate()
        let playlists = PlaylistSet(manifest: manifest, keyURI: keyURI)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        destination.put("manifest.json", Array(try encoder.encode(manifest)) + [0x0A], kind: .manifest, entered: nil)
        let media = Array(playlists.media.render().utf8)
        for name in [ContentManifest.sourceRendition] + manifest.ladder.map(\.name) {
            destination.put("\(name)/index.m3u8", media, kind: .playlist, entered: nil)
        }
        destination.put("master.m3u8", Array(playlists.master.render().utf8), kind: .master, entered: nil)
    }
}
