import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// Signed JSON requests from this edge to its coordinator (see ``SignedRequest``).
struct CoordinatorLink: Sendable {
    /// The coordinator's base URL, without a trailing slash.
    let base: String
    let identity: NodeIdentity
    let client: HTTPClient

    init(base: String, identity: NodeIdentity, client: HTTPClient) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.identity = identity
        self.client = client
    }

    /// POSTs `message` signed with the node's key and returns the answer's body.
    /// - Throws: ``AgentError`` with the status and the coordinator's reason on a non-2xx.
    func post(_ path: String, _ message: some Encodable, timeout: TimeAmount = .seconds(10)) async throws -> ByteBuffer {
        let body = try JSONEncoder().encode(message)
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in try SignedRequest.headers(identity: identity, method: "POST", path: path, body: body) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: timeout)
        let answer = try await response.body.collect(upTo: 4 << 20)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw AgentError(status: Int(response.status.code), message: ErrorAnswer.reason(in: answer.readableBytesView))
        }
        return answer
    }

    /// POSTs `message` and decodes the answer as `T`.
    func post<T: Decodable>(_ path: String, _ message: some Encodable, as type: T.Type, timeout: TimeAmount = .seconds(10)) async throws -> T {
        let answer = try await post(path, message, timeout: timeout)
        do {
            return try JSONDecoder().decode(T.self, from: Data(answer.readableBytesView))
        } catch {
            throw AgentError(status: 200, message: "the coordinator's answer to \(path) does not decode: \(error)")
        }
    }
}

struct AgentError: Error, CustomStringConvertible {
    let status: Int
    let message: String
    var description: String { "\(status): \(message)" }
}
