import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One GET with async-http-client (the coordinator may be HTTP or HTTPS).
enum RouteClient {
    static func get(_ url: URL) async throws -> (status: Int, body: Data) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url.absoluteString), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Data(body.readableBytesView))
    }
}
