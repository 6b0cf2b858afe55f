/// An HLS attribute list (`BANDWIDTH=800000,CODECS="avc1.4d401f,mp4a.40.2",RESOLUTION=640x360`):
/// names in order with their raw values (quoted strings without their quotes).
struct AttributeList {
    private(set) var pairs: [(name: String, value: String)] = []

    init() {}

    /// Parses leniently: whitespace around names is ignored, commas inside quotes are kept,
    /// an attribute without `=` is skipped.
    init(parsing text: Substring) {
        var index = text.startIndex
        while index < text.endIndex {
            guard let equals = text[index...].firstIndex(of: "=") else { break }
            let name = text[index..<equals].trimmingSpaces()
            var cursor = text.index(after: equals)
            var value = ""
            if cursor < text.endIndex, text[cursor] == "\"" {
                cursor = text.index(after: cursor)
                let close = text[cursor...].firstIndex(of: "\"") ?? text.endIndex
                value = String(text[cursor..<close])
                cursor = close < text.endIndex ? text.index(after: close) : close
                if let comma = text[cursor...].firstIndex(of: ",") {
                    cursor = text.index(after: comma)
                } else {
                    cursor = text.endIndex
                }
            } else {
                let comma = text[cursor...].firstIndex(of: ",") ?? text.endIndex
                value = text[cursor..<comma].trimmingSpaces()
                cursor = comma < text.endIndex ? text.index(after: comma) : comma
            }
            if !name.isEmpty { pairs.append((name.uppercased(), value)) }
            index = cursor
        }
    }

    subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }

    mutating func append(_ name: String, _ value: String) { pairs.append((name, value)) }
    mutating func appendQuoted(_ name: String, _ value: String) { pairs.append((name, "\"\(value)\"")) }

    /// The list as written in a playlist (values already quoted where they need to be).
    var rendered: String { pairs.map { "\($0.name)=\($0.value)" }.joined(separator: ",") }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" || last == "\r" { view.removeLast() }
        return String(view)
    }
}
