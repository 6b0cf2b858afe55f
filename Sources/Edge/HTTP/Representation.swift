import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// One object as the edge presents it, and how it answers a GET or HEAD for it: conditional
/// requests, ranges (one part or `multipart/byteranges`), and the headers both share.
///
/// ## Performance characteristics
/// Build one per object version and reuse it: the validator headers are formatted once, in
/// `init`. With ``memory`` set, bodies are slices of that buffer and nothing is read per request.
struct Representation: Sendable {
    let length: Int
    /// Strong, quoted; nil while unknown.
    let etag: String?
    let lastModified: Int64
    let contentType: String
    /// The whole object, when it is in the cache's memory hot set.
    var memory: ByteBuffer?
    /// Cache-Control, ETag, Last-Modified, Accept-Ranges: on every answer.
    private let validatorHeaders: HTTPFields
    /// `Repr-Digest` value, for full responses.
    private let digest: String?

    init(length: Int, etag: String?, lastModified: Int64, sha256Hex: String?, contentType: String, cacheControl: String) {
        self.length = length
        self.etag = etag
        self.lastModified = lastModified
        self.contentType = contentType
        var headers = HTTPFields()
        headers[.cacheControl] = cacheControl
        if let etag { headers[.eTag] = etag }
        headers[.lastModified] = HTTPDate.format(lastModified)
        headers[.acceptRanges] = "bytes"
        validatorHeaders = headers
        digest = sha256Hex.flatMap(Self.base64(hex:)).map { "sha-256=:\($0):" }
    }

    typealias Reader = @Sendable (Range<Int>, (ByteBuffer) async throws -> Void) async throws -> Void

    /// Builds the response. The body is a slice of ``memory`` when set; otherwise it streams from
    /// `read` when Hummingbird writes it.
    func response(to request: Request, read: @escaping Reader) throws(HTTPFailure) -> Response {
        let now = Int64(time(nil))
        let rangeHeader = request.headers[.range]
        let verdict = Preconditions.evaluate(
            ifMatch: request.headers[.ifMatch], ifUnmodifiedSince: request.headers[.ifUnmodifiedSince],
            ifNoneMatch: request.headers[.ifNoneMatch], ifModifiedSince: request.headers[.ifModifiedSince],
            ifRange: request.headers[.ifRange], hasRange: rangeHeader != nil,
            validators: .init(etag: etag, lastModified: lastModified, now: now))
        var headers = validatorHeaders

        let honourRange: Bool
        switch verdict {
        case .notModified:
            return Response(status: .notModified, headers: headers)
        case .failed:
            var failure = HTTPFailure(status: .preconditionFailed, message: "precondition failed: the object's validators do not match")
            failure.extraHeaders = headers
            throw failure
        case .proceed(let honour):
            honourRange = honour
        }

        let ranges: ByteRanges = (honourRange ? rangeHeader : nil).map { ByteRanges.resolve($0, length: length) } ?? .whole
        let isHead = request.method == .head
        switch ranges {
        case .unsatisfiable(let reason):
            throw HTTPFailure.rangeNotSatisfiable(reason, length: length)
        case .whole:
            headers[.contentType] = contentType
            if let digest { headers[Self.reprDigest] = digest }
            headers[.contentLength] = String(length)
            let total = length
            if let memory, !isHead { return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: memory)) }
            return Response(status: .ok, headers: headers, body: isHead ? ResponseBody() : ResponseBody(contentLength: total) { writer in
                try await read(0..<total) { try await writer.write($0) }
                try await writer.finish(nil)
            })
        case .partial(let parts) where parts.count == 1:
            let part = parts[0]
            headers[.contentType] = contentType
            headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound - 1)/\(length)"
            headers[.contentLength] = String(part.count)
            if let memory, !isHead {
                return Response(status: .partialContent, headers: headers, body: ResponseBody(byteBuffer: memory.getSlice(at: memory.readerIndex + part.lowerBound, length: part.count)!))
            }
            return Response(status: .partialContent, headers: headers, body: isHead ? ResponseBody() : ResponseBody(contentLength: part.count) { writer in
                try await read(part) { try await writer.write($0) }
                try await writer.finish(nil)
            })
        case .partial(let parts):
            let boundary = "depin-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            let heads = parts.map {
                ByteBuffer(string: "\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\nContent-Range: bytes \($0.lowerBound)-\($0.upperBound - 1)/\(length)\r\n\r\n")
            }
            let tail = ByteBuffer(string: "\r\n--\(boundary)--\r\n")
            let total = zip(heads, parts).reduce(tail.readableBytes) { $0 + $1.0.readableBytes + $1.1.count }
            headers[.contentType] = "multipart/byteranges; boundary=\(boundary)"
            headers[.contentLength] = String(total)
            return Response(status: .partialContent, headers: headers, body: isHead ? ResponseBody() : ResponseBody(contentLength: total) { writer in
                for (head, part) in zip(heads, parts) {
                    try await writer.write(head)
                    try await read(part) { try await writer.write($0) }
                }
                try await writer.write(tail)
                try await writer.finish(nil)
            })
        }
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
