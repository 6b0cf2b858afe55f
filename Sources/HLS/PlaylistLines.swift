/// The lines of a playlist as every reader of playlists here sees them: split at LF, CRLF or
/// CR, a leading byte-order mark dropped, each with the spaces and tabs around it trimmed and
/// with what ended it kept, so that a rewrite can write untouched lines back byte for byte.
///
/// The parser (``Playlist/parse(_:)``), the edge's caching summary (``PlaylistInfo``) and the
/// token rewrite (``PlaylistRewriter``) all read playlists through this one type.
///
/// ## Performance characteristics
/// Scans the UTF-8 bytes once; each line is a slice of the text (no copy).
package struct PlaylistLines: Sequence {
    package struct Line {
        /// The line as written, without what ended it.
        package let raw: Substring
        /// `raw` without the spaces and tabs around it.
        package let text: Substring
        /// What ended the line: `"\n"`, `"\r\n"`, `"\r"`, or nothing for the last line.
        package let end: Substring

        /// Whether the line is a tag (or a comment): it starts with `#`.
        package var isTag: Bool { text.utf8.first == UInt8(ascii: "#") }

        /// The value after `name` and its colon (`#EXT-X-TARGETDURATION:6` → `6`); nil when the
        /// line is another tag.
        package func value(of name: String) -> Substring? {
            guard text.hasPrefix(name) else { return nil }
            let rest = text.dropFirst(name.count)
            guard rest.first == ":" else { return nil }
            return rest.dropFirst()
        }
    }

    private let text: Substring

    package init(_ text: some StringProtocol) {
        var text = Substring(text)
        if text.hasPrefix("\u{FEFF}") { text = text.dropFirst() }
        self.text = text
    }

    package func makeIterator() -> Iterator { Iterator(rest: text) }

    package struct Iterator: IteratorProtocol {
        var rest: Substring
        var finished = false

        package mutating func next() -> Line? {
            guard !finished else { return nil }
            let bytes = rest.utf8
            var cursor = bytes.startIndex
            while cursor != bytes.endIndex, bytes[cursor] != 0x0A, bytes[cursor] != 0x0D { bytes.formIndex(after: &cursor) }
            let lineEnd = cursor
            if cursor == bytes.endIndex {
                finished = true
            } else {
                let carriage = bytes[cursor] == 0x0D
                bytes.formIndex(after: &cursor)
                if carriage, cursor != bytes.endIndex, bytes[cursor] == 0x0A { bytes.formIndex(after: &cursor) }
            }
            let raw = rest[..<lineEnd]
            let line = Line(raw: raw, text: Self.trimmed(raw), end: rest[lineEnd..<cursor])
            rest = rest[cursor...]
            return line
        }

        private static func trimmed(_ line: Substring) -> Substring {
            let bytes = line.utf8
            var start = bytes.startIndex, end = bytes.endIndex
            while start != end, bytes[start] == 0x20 || bytes[start] == 0x09 { bytes.formIndex(after: &start) }
            while start != end {
                let before = bytes.index(before: end)
                guard bytes[before] == 0x20 || bytes[before] == 0x09 else { break }
                end = before
            }
            return line[start..<end]
        }
    }
}

/// What an edge reads from a playlist to choose its caching: master or media, VOD or live.
package struct PlaylistInfo: Sendable, Equatable {
    package var isMaster: Bool
    package var hasEndList: Bool
    package var targetDuration: Int

    /// A live media playlist changes: it is served but never kept.
    package var isLive: Bool { !isMaster && !hasEndList }

    package init(isMaster: Bool, hasEndList: Bool, targetDuration: Int) {
        self.isMaster = isMaster
        self.hasEndList = hasEndList
        self.targetDuration = targetDuration
    }

    package init(parsing bytes: some Collection<UInt8>) {
        var master = false, end = false, target = 6
        for line in PlaylistLines(String(decoding: bytes, as: UTF8.self)) where line.isTag {
            if line.text.hasPrefix("#EXT-X-STREAM-INF") { master = true }
            if line.text.hasPrefix("#EXT-X-ENDLIST") || line.text.hasPrefix("#EXT-X-PLAYLIST-TYPE:VOD") { end = true }
            if let value = line.value(of: "#EXT-X-TARGETDURATION"), let seconds = Int(value) { target = seconds }
        }
        self.init(isMaster: master, hasEndList: end, targetDuration: target)
    }
}
