/// A configuration a user gave that the edge cannot run with, and what to change.
package struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable {
        case file
        case unknownKey
        case invalidValue
    }
    private let code: Code
    package let description: String

    static func file(_ path: String, _ reason: String) -> Self {
        .init(code: .file, description: "config file \(path): \(reason)")
    }
    static func unknownKey(_ key: String, in source: String, known: [String]) -> Self {
        .init(code: .unknownKey, description: "\(source): unknown setting '\(key)'; known settings: \(known.joined(separator: ", "))")
    }
    static func invalid(_ key: String, _ value: String, expected: String) -> Self {
        .init(code: .invalidValue, description: "setting '\(key)' = '\(value.prefix(200))' is invalid: expected \(expected)")
    }
}
