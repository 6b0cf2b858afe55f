/// Why a playlist or an encrypted segment could not be read.
public struct HLSError: Error, CustomStringConvertible, Sendable {
    enum Code: Sendable {
        case playlist
        case crypto
    }
    let code: Code
    public let message: String

    public var description: String { message }

    static func playlist(_ what: String, line: Int? = nil) -> Self {
        .init(code: .playlist, message: line.map { "playlist line \($0): \(what)" } ?? "playlist: \(what)")
    }

    static func crypto(_ what: String) -> Self { .init(code: .crypto, message: what) }
}
