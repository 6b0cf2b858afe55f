import Foundation

/// Carries a playback token into every URI of a playlist, as nginx's `hls_forward_args` does,
/// so players that know nothing of tokens still send it with every request: segment and
/// variant URIs get `token=T`, and every EXT-X-KEY points at the coordinator's key service
/// for the title.
enum PlaylistRewriter {
    static func rewrite(_ text: String, token: String, content: String, coordinator: String) -> String {
        let keyURI = "\(coordinator)/v1/hls-key/\(content)?token=\(token)"
        var out = ""
        out.reserveCapacity(text.utf8.count + 64 * token.utf8.count)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(line)
            let carriage = line.hasSuffix("\r")
            if carriage { line = line.dropLast() }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            var rewritten: String
            if trimmed.isEmpty {
                rewritten = String(line)
            } else if trimmed.hasPrefix("#EXT-X-KEY:") || trimmed.hasPrefix("#EXT-X-SESSION-KEY:") {
                rewritten = replacingURI(in: trimmed) { _ in keyURI }
            } else if trimmed.hasPrefix("#EXT-X-MAP:") || trimmed.hasPrefix("#EXT-X-MEDIA:") || trimmed.hasPrefix("#EXT-X-I-FRAME-STREAM-INF:") {
                rewritten = replacingURI(in: trimmed) { withToken($0, token) }
            } else if trimmed.hasPrefix("#") {
                rewritten = String(line)
            } else {
                rewritten = withToken(String(trimmed), token)
            }
            out += rewritten
            if carriage { out += "\r" }
            out += "\n"
        }
        out.removeLast()  // split added one line more than there were newlines
        return out
    }

    static func withToken(_ uri: String, _ token: String) -> String {
        uri + (uri.contains("?") ? "&" : "?") + "token=" + token
    }

    /// The tag with its `URI="..."` attribute's value replaced.
    private static func replacingURI(in tag: Substring, _ transform: (String) -> String) -> String {
        guard let start = tag.range(of: "URI=\"") else { return String(tag) }
        let valueStart = start.upperBound
        guard let end = tag[valueStart...].firstIndex(of: "\"") else { return String(tag) }
        return String(tag[..<valueStart]) + transform(String(tag[valueStart..<end])) + String(tag[end...])
    }
}
