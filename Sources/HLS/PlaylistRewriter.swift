/// Carries a playback token into every URI of a playlist, as nginx's `hls_forward_args` does,
/// so players that know nothing of tokens still send it with every request: segment and
/// variant URIs get `token=T`, and every EXT-X-KEY points at the edge's own key endpoint for
/// the title (`/v/{content}/key`, which the edge relays to the coordinator's key service), so
/// playlist, key and segments share the edge's origin.
package enum PlaylistRewriter {
    /// The key URI written into a title's playlists: same origin as the playlist.
    package static func keyURI(content: String, token: String) -> String { "/v/\(content)/key?token=\(token)" }

    package static func rewrite(_ text: String, token: String, content: String) -> String {
        let keyURI = keyURI(content: content, token: token)
        var out = ""
        out.reserveCapacity(text.utf8.count + 64 * token.utf8.count)
        for line in PlaylistLines(text) {
            if line.text.hasPrefix("#EXT-X-KEY:") || line.text.hasPrefix("#EXT-X-SESSION-KEY:") {
                out += replacingURI(in: line.text) { _ in keyURI }
            } else if Self.tagsWithURI.contains(where: { line.text.hasPrefix($0) }) {
                out += replacingURI(in: line.text) { withToken($0, token) }
            } else if line.isTag || line.text.isEmpty {
                out += line.raw
            } else {
                out += withToken(String(line.text), token)
            }
            out += line.end
        }
        return out
    }

    /// Tags whose URI attribute names a resource of the title (the key's is replaced instead).
    static let tagsWithURI = [
        "#EXT-X-MAP:", "#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:", "#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:", "#EXT-X-RENDITION-REPORT:",
    ]

    package static func withToken(_ uri: String, _ token: String) -> String {
        uri + (uri.contains("?") ? "&" : "?") + "token=" + token
    }

    /// The tag with its `URI="..."` attribute's value replaced.
    private static func replacingURI(in tag: Substring, _ transform: (String) -> String) -> String {
        guard let start = tag.firstRange(of: "URI=\"") else { return String(tag) }
        let valueStart = start.upperBound
        guard let end = tag[valueStart...].firstIndex(of: "\"") else { return String(tag) }
        return String(tag[..<valueStart]) + transform(String(tag[valueStart..<end])) + String(tag[end...])
    }
}

extension PlaylistRewriter {
    /// A master playlist for HLS Content Steering: the `#EXT-X-CONTENT-STEERING` tag pointing
    /// at the coordinator's steering endpoint for the session, and every variant repeated once
    /// per pathway (`PATHWAY-ID` = the edge's node id), this edge's with relative URIs and the
    /// others' with their base URLs, each carrying the token; keys come from the same edge as
    /// the playlist that names them.
    ///
    /// Nil when the playlist cannot be steered as written: not a master playlist, no pathway,
    /// or tags whose groups or URIs would have to differ per pathway (`EXT-X-MEDIA`,
    /// `EXT-X-I-FRAME-STREAM-INF`, `EXT-X-SESSION-DATA` with a URI) or a steering tag already.
    /// - Parameters:
    ///   - pathways: the session's edges in steering order (``SessionPathways``).
    ///   - own: this edge's node id: its pathway is the one to use until the steering
    ///     manifest is loaded (the player already reached it).
    package static func steered(
        _ text: String, token: String, content: String, pathways: [(id: String, url: String)], own: String, steeringServer: String
    ) -> String? {
        guard !pathways.isEmpty, pathways.allSatisfy({ isPathwayID($0.id) }) else { return nil }
        var header: [String] = []
        var variants: [(tag: String, uri: String)] = []
        var pendingTag: String?
        for scanned in PlaylistLines(text) where !scanned.text.isEmpty {
            let line = String(scanned.text)
            if line.hasPrefix("#EXT-X-MEDIA:") || line.hasPrefix("#EXT-X-I-FRAME-STREAM-INF:") || line.hasPrefix("#EXT-X-CONTENT-STEERING")
                || (line.hasPrefix("#EXT-X-SESSION-DATA:") && line.contains("URI="))
            {
                return nil
            }
            if line.hasPrefix("#EXT-X-STREAM-INF:") {
                guard pendingTag == nil, !line.contains("PATHWAY-ID=") else { return nil }
                pendingTag = line
            } else if line.hasPrefix("#") {
                guard pendingTag == nil else { return nil }
                header.append(line)
            } else {
                guard let tag = pendingTag else { return nil }
                variants.append((tag, line))
                pendingTag = nil
            }
        }
        guard pendingTag == nil, !variants.isEmpty, header.first == "#EXTM3U" else { return nil }
        let initial = pathways.contains { $0.id == own } ? own : pathways[0].id
        var out = header.joined(separator: "\n") + "\n"
        out += "#EXT-X-CONTENT-STEERING:SERVER-URI=\"\(steeringServer)/v1/steering/\(content)?token=\(token)\",PATHWAY-ID=\"\(initial)\"\n"
        for pathway in pathways {
            let origin = pathway.url.hasSuffix("/") ? String(pathway.url.dropLast()) : pathway.url
            for variant in variants {
                out += variant.tag + ",PATHWAY-ID=\"\(pathway.id)\"\n"
                let uri =
                    if pathway.id == own || variant.uri.contains("://") { variant.uri }
                    else if variant.uri.hasPrefix("/") { origin + variant.uri }
                    else { origin + "/v/\(content)/" + variant.uri }
                out += withToken(uri, token) + "\n"
            }
        }
        return out
    }

    /// A legal pathway id: 1 or more of `[a-zA-Z0-9._-]` (HLS Content Steering).
    package static func isPathwayID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x2D || byte == 0x5F
        }
    }
}

/// A playlist rewritten once for every token (``PlaylistRewriter/rewrite(_:token:content:)``):
/// the bytes between the places a viewer's token goes, so that answering each of thousands of
/// viewers is a few copies instead of a rewrite. A live playlist is served this way between two
/// updates.
package struct TokenTemplate: Sendable {
    private let pieces: [[UInt8]]
    private let size: Int

    /// Nil when `text` holds a NUL byte (used here to mark where tokens go; no playlist has one).
    package init?(_ text: String, content: String) {
        guard !text.utf8.contains(0) else { return nil }
        pieces = Array(PlaylistRewriter.rewrite(text, token: "\u{0}", content: content).utf8).split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        size = pieces.reduce(0) { $0 + $1.count }
    }

    /// The playlist as ``PlaylistRewriter/rewrite(_:token:content:)`` writes it for `token`.
    package func filled(with token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size + (pieces.count - 1) * token.utf8.count)
        for (index, piece) in pieces.enumerated() {
            if index > 0 { out.append(contentsOf: token.utf8) }
            out.append(contentsOf: piece)
        }
        return out
    }
}

/// A live media playlist made ready for viewers' tokens once per update: whole, and as a delta
/// update (``LivePlaylist/delta()``) when it offers them.
package struct LiveTemplates: Sendable {
    package let whole: TokenTemplate?
    package let delta: TokenTemplate?

    /// - Parameters:
    ///   - text: the playlist as it came; `playlist`, the same parsed.
    package init(_ text: String, _ playlist: LivePlaylist, content: String) {
        whole = TokenTemplate(text, content: content)
        delta = playlist.delta().flatMap { TokenTemplate($0.render(), content: content) }
    }

    /// The template for a request: the delta update when it asks for one and one is offered.
    package func template(delta wanted: Bool) -> TokenTemplate? { wanted ? delta ?? whole : whole }
}

