import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// Registers a published title and its content key with a coordinator (`POST /v1/contents`).
enum ContentRegistrar {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func register(manifest: ContentManifest, key: Data, coordinator: String, adminToken: String) async throws {
        let base = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
        guard let url = URL(string: base + "/v1/contents"), ["http", "https"].contains(url.scheme ?? "") else {
            throw Failure(description: "--coordinator must be an http:// or https:// URL")
        }
        let body = try JSONSerialization.data(withJSONObject: [
            "manifest": try JSONSerialization.jsonObject(with: JSONEncoder().encode(manifest)),
            "key": key.base64EncodedString(),
        ])
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let answer = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .created else {
            throw Failure(description: "\(response.status.code): \(String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
