import AsyncHTTPClient
import EdgeCache
import Foundation
import NIOCore
import NIOHTTP1

/// An origin reached over HTTP(S): an origin server or another edge (`https://edge-2:8443/v`).
///
/// Resumes with `Range: bytes=N-`; takes `Repr-Digest: sha-256=:...:` (RFC 9530), which edges
/// send, as the SHA-256 the fill must match; refuses redirects and answers other than 200/206.
package struct HTTPOrigin: Origin {
    package let base: String
    let client: HTTPClient
    let deadline: TimeAmount
    /// `Authorization` sent with every request (a coordinator token when filling from hosts).
    let authorization: String?

    /// - Parameters:
    ///   - base: the content root, `http(s)://host[:port][/prefix]`.
    ///   - client: shared client, whose configuration holds the connect and read timeouts.
    ///   - deadline: the most one fill attempt may take, body included.
    ///   - authorization: an `Authorization` header value for every request.
    package init(base: String, client: HTTPClient, deadline: TimeAmount = .seconds(120), authorization: String? = nil) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.client = client
        self.deadline = deadline
        self.authorization = authorization
    }

    package var description: String { base }

    package func fetch(
        _ key: CacheKey,
        from offset: Int,
        onHead: (OriginHead) async throws -> Void,
        onChunk: (ByteBuffer) async throws -> Void
    ) async throws {
        let url = "\(base)/\(key.content)/\(key.path)"
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "depin-edge")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: deadline)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .connectTimeout || error == .readTimeout {
            throw OriginError.timedOut("\(url): \(error)")
        } catch {
            throw OriginError.unavailable("\(url): \(error)")
        }
        var head: OriginHead
        switch response.status.code {
        case 200:
            head = OriginHead(offset: 0, totalLength: response.headers.first(name: "Content-Length").flatMap { Int($0) })
        case 206:
            guard let range = response.headers.first(name: "Content-Range"), let parsed = Self.parseContentRange(range), parsed.start == offset
            else { throw OriginError.invalid("\(url): 206 with an unusable Content-Range") }
            head = OriginHead(offset: parsed.start, totalLength: parsed.total)
        case 404, 410:
            throw OriginError.notFound(url)
        case 416 where offset > 0:
            throw OriginError.invalid("\(url): cannot resume at byte \(offset) (416)")
        default:
            throw OriginError.unavailable("\(url): HTTP \(response.status.code)")
        }
        head.lastModified = response.headers.first(name: "Last-Modified").flatMap(HTTPDate.parse)
        head.sha256 = response.headers.first(name: "Repr-Digest").flatMap(Self.parseSHA256Digest)
        head.endIsMarked =
            head.totalLength != nil || response.version.major >= 2
            || response.headers[canonicalForm: "Transfer-Encoding"].contains { $0.lowercased() == "chunked" }
        try await onHead(head)
        do {
            for try await chunk in response.body {
                try await onChunk(chunk)
            }
        } catch let error as HTTPClientError {
            throw OriginError.unavailable("\(url): body failed: \(error)")
        }
    }

    /// `bytes 100-199/1000` → (100, 1000); the total may be `*` (nil).
    static func parseContentRange(_ value: String) -> (start: Int, total: Int?)? {
        guard value.hasPrefix("bytes ") else { return nil }
        let rest = value.dropFirst(6)
        let parts = rest.split(separator: "/")
        guard parts.count == 2, let dash = parts[0].firstIndex(of: "-"), let start = Int(parts[0][..<dash]) else { return nil }
        return (start, parts[1] == "*" ? nil : Int(parts[1]))
    }

    /// `sha-256=:base64:` (RFC 9530) → the digest's bytes.
    static func parseSHA256Digest(_ value: String) -> [UInt8]? {
        for item in value.split(separator: ",") {
            let trimmed = item.trimmingWhitespace()
            guard trimmed.hasPrefix("sha-256=:"), trimmed.hasSuffix(":"), trimmed.count > 10 else { continue }
            let encoded = trimmed.dropFirst(9).dropLast()
            if let data = Data(base64Encoded: String(encoded)), data.count == 32 { return Array(data) }
        }
        return nil
    }
}
