extension LivePlaylist {
    /// `text` (a live media playlist) with each `EXT-X-RENDITION-REPORT` brought up to `newest`
    /// of the rung its URI names (`../480p/index.m3u8` names `480p`), where that is further on.
    /// A relay holds newer copies of the other rungs than the host's playlist reported when it
    /// was made; a player reading the reports then jumps rungs to where they really are.
    ///
    /// A report `newest` knows nothing newer of, or only a segment without parts of, is left as
    /// it was; the text is returned as it came when nothing changes.
    package static func withCurrentReports(_ text: String, newest: (_ rung: String) -> (sequence: Int, part: Int)?) -> String {
        let tag = "#EXT-X-RENDITION-REPORT:"
        guard text.contains(tag) else { return text }
        var changed = false
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            guard line.hasPrefix(tag) else { return line }
            let attributes = AttributeList(parsing: line.dropFirst(tag.count))
            guard let uri = attributes["URI"], let msn = attributes["LAST-MSN"].flatMap(Int.init), let part = attributes["LAST-PART"].flatMap(Int.init),
                let rung = uri.split(separator: "?").first?.split(separator: "/").dropLast().last.map(String.init), rung != "..",
                let known = newest(rung), known.part >= 0, known.part != Int.max, (known.sequence, known.part) > (msn, part)
            else { return line }
            changed = true
            return Substring("\(tag)URI=\"\(uri)\",LAST-MSN=\(known.sequence),LAST-PART=\(known.part)")
        }
        return changed ? lines.joined(separator: "\n") : text
    }
}
