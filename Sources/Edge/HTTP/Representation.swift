import EdgeCache
import Foundation
import HLS
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHPACK

/// One object as the edge presents it, and how it answers a GET or HEAD for it: conditional
/// requests, ranges (one part or `multipart/byteranges`), and the headers both share.
///
/// ## Performance characteristics
/// Build one per object version and reuse it: the validator headers are formatted once, in
/// `init`. With ``memory`` set, bodies are slices of that buffer and nothing is read per request.
struct Representation: Sendable {
    /// What never changes for this object version, behind one reference: a copy of a
    /// representation (every hit copies one out of the cache) costs one retain, not one for each
    /// header list and string.
    private final class Fixed: Sendable {
        let length: Int
        let etag: String?
        let lastModified: Int64
        let contentType: String
        /// Cache-Control, ETag, Last-Modified, Accept-Ranges: on every answer.
        let validatorHeaders: HTTPFields
        /// Every header of a whole-object 200, made once.
        let wholeHeaders: HTTPFields
        /// The same as an HTTP/2 header block with `:status`, made once.
        let wholeHPACK: HPACKHeaders

        init(length: Int, etag: String?, lastModified: Int64, contentType: String, validatorHeaders: HTTPFields, wholeHeaders: HTTPFields) {
            self.length = length
            self.etag = etag
            self.lastModified = lastModified
            self.contentType = contentType
            self.validatorHeaders = validatorHeaders
            self.wholeHeaders = wholeHeaders
            wholeHPACK = HPACKHeaders(status: .ok, wholeHeaders)
        }
    }
    private let fixed: Fixed
    /// The whole object, when it is in the cache's memory hot set.
    var memory: ByteBuffer?

    var length: Int { fixed.length }
    /// Strong, quoted; nil while unknown.
    var etag: String? { fixed.etag }
    var lastModified: Int64 { fixed.lastModified }
    var contentType: String { fixed.contentType }
    private var validatorHeaders: HTTPFields { fixed.validatorHeaders }
    private var wholeHeaders: HTTPFields { fixed.wholeHeaders }
    private var wholeHPACK: HPACKHeaders { fixed.wholeHPACK }

    /// A stored object's representation: its validators, and the type and caching its kind gets
    /// (a playlist's caching needs what its text says).
    init(_ metadata: ObjectMetadata, kind: MediaKind, playlist: PlaylistInfo?) {
        self.init(
            length: metadata.length, etag: metadata.etag, lastModified: metadata.lastModified, sha256Hex: metadata.sha256,
            contentType: kind.contentType, cacheControl: kind.cacheControl(playlistInfo: playlist))
    }

    init(length: Int, etag: String?, lastModified: Int64, sha256Hex: String?, contentType: String, cacheControl: String) {
        var headers = HTTPFields()
        headers[.cacheControl] = cacheControl
        if let etag { headers[.eTag] = etag }
        headers[.lastModified] = HTTPDate.format(lastModified)
        headers[.acceptRanges] = "bytes"
        CORS.add(to: &headers)
        let validators = headers
        headers[.contentType] = contentType
        if let digest = sha256Hex.flatMap(Self.base64(hex:)) { headers[Self.reprDigest] = "sha-256=:\(digest):" }
        headers[.contentLength] = String(length)
        fixed = Fixed(
            length: length, etag: etag, lastModified: lastModified, contentType: contentType, validatorHeaders: validators, wholeHeaders: headers)
    }

    typealias Reader = @Sendable (Range<Int>, (ByteBuffer) async throws -> Void) async throws -> Void

    /// Builds the response. The body is a slice of ``memory`` when set; otherwise it streams from
    /// `read` when Hummingbird writes it.
    func response(to request: Request, read: @escaping Reader) throws(HTTPFailure) -> Response {
        try answer(to: request.head, read: read).response
    }

    /// What to answer, with the body as buffers when it is all in memory.
    func answer(to request: HTTPRequest, read: @escaping Reader) throws(HTTPFailure) -> Answer {
        let now = Int64(time(nil))
        let headerFields = request.headerFields
        let rangeHeader = headerFields[.range]
        let verdict = Preconditions.evaluate(
            ifMatch: headerFields[.ifMatch], ifUnmodifiedSince: headerFields[.ifUnmodifiedSince],
            ifNoneMatch: headerFields[.ifNoneMatch], ifModifiedSince: headerFields[.ifModifiedSince],
            ifRange: headerFields[.ifRange], hasRange: rangeHeader != nil,
            validators: .init(etag: etag, lastModified: lastModified, now: now))
        var headers = validatorHeaders

        let honourRange: Bool
        switch verdict {
        case .notModified:
            return Answer(status: .notModified, headers: headers, body: .none)
        case .failed:
            var failure = HTTPFailure(status: .preconditionFailed, message: "precondition failed: the object's validators do not match")
            failure.extraHeaders = headers
            throw failure
        case .proceed(let honour):
            honourRange = honour
        }

        let ranges: ByteRanges = (honourRange ? rangeHeader : nil).map { ByteRanges.resolve($0, length: length) } ?? .whole
        let isHead = request.method == .head
        /// A body of these pieces: buffers, and ranges of the object.
        func body(_ pieces: [Piece], length total: Int) -> Answer.Body {
            if isHead { return .none }
            if let memory {
                return .buffers(pieces.map {
                    switch $0 {
                    case .bytes(let buffer): buffer
                    case .range(let range): memory.getSlice(at: memory.readerIndex + range.lowerBound, length: range.count)!
                    }
                })
            }
            return .stream(ResponseBody(contentLength: total) { writer in
                for piece in pieces {
                    switch piece {
                    case .bytes(let buffer): try await writer.write(buffer)
                    case .range(let range): try await read(range) { try await writer.write($0) }
                    }
                }
                try await writer.finish(nil)
            })
        }
        switch ranges {
        case .unsatisfiable(let reason):
            throw HTTPFailure.rangeNotSatisfiable(reason, length: length)
        case .whole:
            return Answer(status: .ok, headers: wholeHeaders, body: body([.range(0..<length)], length: length), encodedHead: wholeHPACK)
        case .partial(let parts) where parts.count == 1:
            let part = parts[0]
            headers[.contentType] = contentType
            headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound - 1)/\(length)"
            headers[.contentLength] = String(part.count)
            return Answer(status: .partialContent, headers: headers, body: body([.range(part)], length: part.count))
        case .partial(let parts):
            let boundary = "depin-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            var pieces: [Piece] = []
            for part in parts {
                pieces.append(.bytes(ByteBuffer(string: "\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\nContent-Range: bytes \(part.lowerBound)-\(part.upperBound - 1)/\(length)\r\n\r\n")))
                pieces.append(.range(part))
            }
            pieces.append(.bytes(ByteBuffer(string: "\r\n--\(boundary)--\r\n")))
            let total = pieces.reduce(0) {
                switch $1 {
                case .bytes(let buffer): $0 + buffer.readableBytes
                case .range(let range): $0 + range.count
                }
            }
            headers[.contentType] = "multipart/byteranges; boundary=\(boundary)"
            headers[.contentLength] = String(total)
            return Answer(status: .partialContent, headers: headers, body: body(pieces, length: total))
        }
    }

    private enum Piece {
        case bytes(ByteBuffer)
        case range(Range<Int>)
    }

    static let reprDigest = HTTPField.Name("Repr-Digest")!

    static func base64(hex: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = Int(String(UnicodeScalar(high)), radix: 16), let l = Int(String(UnicodeScalar(low)), radix: 16) else { return nil }
            bytes.append(UInt8(h << 4 | l))
        }
        return Data(bytes).base64EncodedString()
    }
}

/// A response before it is handed to a server: status, headers and how the body is made.
struct Answer: Sendable {
    enum Body: Sendable {
        /// No body (HEAD, 304).
        case none
        /// The whole body, already in memory.
        case buffers([ByteBuffer])
        /// A body produced while it is written.
        case stream(ResponseBody)
    }
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: Body
    /// `status` and `headers` already as an HTTP/2 header block, when the representation keeps one.
    var encodedHead: HPACKHeaders? = nil

    /// As a Hummingbird response.
    var response: Response {
        switch body {
        case .none: Response(status: status, headers: headers)
        case .buffers(let buffers): Response(status: status, headers: headers, body: buffers.count == 1 ? ResponseBody(byteBuffer: buffers[0]) : ResponseBody(contentsOf: buffers))
        case .stream(let body): Response(status: status, headers: headers, body: body)
        }
    }
}

extension HPACKHeaders {
    /// An HTTP/2 response header block: `:status`, then the fields (lower-case names, as HTTP/2
    /// requires; hop-by-hop fields dropped).
    init(status: HTTPResponse.Status, _ fields: HTTPFields) {
        self.init()
        reserveCapacity(fields.count + 3)
        add(name: ":status", value: String(status.code))
        for field in fields where field.name != .connection && field.name != .transferEncoding {
            add(name: field.name.canonicalName, value: field.value)
        }
    }
}

/// The edge's cache: each stored object version keeps its ``Representation``.
typealias MediaCache = EdgeCache<Representation>
