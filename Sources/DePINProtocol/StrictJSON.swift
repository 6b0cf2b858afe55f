import Foundation

/// Decodes JSON that must name only known fields, so a typo or a field from a newer client is
/// refused with its name instead of silently ignored.
public enum StrictJSON {
    /// The largest body accepted by ``decode(_:from:limit:)`` unless the caller says otherwise.
    public static let maxBytes = 64 * 1024
    /// The largest title registration: a manifest lists every segment (about 200 bytes each),
    /// so 16 MiB holds a title of some 80,000 segments (3.5 days at 4 s).
    public static let maxManifestBytes = 16 << 20

    /// Decodes `T`, refusing unknown top-level fields, non-objects, and bodies over `limit`.
    /// - Throws: ``ProtocolError`` naming what was wrong.
    public static func decode<T: Decodable & KnownFields>(_ type: T.Type, from data: Data, limit: Int = maxBytes) throws -> T {
        guard data.count <= limit else { throw ProtocolError.invalid("the body is \(data.count) bytes; at most \(limit) are accepted") }
        if let parsing = T.self as? any ParsesItsBody.Type { return try parsing.parse(data) as! T }
        if !(T.self is any ChecksItsFields.Type) { try checkFields(T.self, data) }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as ProtocolError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw ProtocolError.invalid("missing field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ProtocolError.invalid("field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.isEmpty { throw ProtocolError.invalid("the body is not JSON") }
            throw ProtocolError.invalid("field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)")
        } catch {
            throw ProtocolError.invalid("the body does not match: \(error)")
        }
    }

    /// The first pass for types that do not check their own fields: the body is a JSON object
    /// and names only known fields.
    private static func checkFields<T: KnownFields>(_ type: T.Type, _ data: Data) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ProtocolError.invalid("the body is not JSON")
        }
        guard let fields = object as? [String: Any] else { throw ProtocolError.invalid("the body must be a JSON object") }
        if let unknown = fields.keys.sorted().first(where: { !T.knownFields.contains($0) }) {
            throw ProtocolError.invalid("unknown field '\(unknown)' (known: \(T.knownFields.sorted().joined(separator: ", ")))")
        }
    }

    /// Throws what a type checking its own fields says of an unknown one.
    public static func refuseUnknown<T: KnownFields>(_ type: T.Type, in keys: [String]) throws {
        if let unknown = keys.sorted().first(where: { !T.knownFields.contains($0) }) {
            throw ProtocolError.invalid("unknown field '\(unknown)' (known: \(T.knownFields.sorted().joined(separator: ", ")))")
        }
    }
}

/// The top-level fields a message may carry.
public protocol KnownFields {
    static var knownFields: Set<String> { get }
}

/// A message whose `init(from:)` refuses unknown fields itself (with
/// ``StrictJSON/refuseUnknown(_:in:)``), so ``StrictJSON`` parses its body once, not twice:
/// for messages on hot paths.
public protocol ChecksItsFields: KnownFields, Decodable {}

/// A message read from its body by a parser of its own (as strict as ``StrictJSON``), for the
/// hot paths where `JSONDecoder` costs more than the work done with the message.
public protocol ParsesItsBody: KnownFields {
    /// - Throws: ``ProtocolError`` naming what was wrong.
    static func parse(_ data: Data) throws(ProtocolError) -> Self
}

/// Any JSON key.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
