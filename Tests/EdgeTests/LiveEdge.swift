import AsyncHTTPClient
import Edge
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Prometheus
import TestSupport

/// A real edge server on loopback, random ports, over a temporary origin folder and cache.
struct LiveEdge {
    let https: Int
    let http: Int
    let origin: TemporaryDirectory

    var httpsBase: String { "https://127.0.0.1:\(https)" }
    var httpBase: String { "http://127.0.0.1:\(http)" }

    /// Starts an edge, runs `body`, stops the edge and removes its folders.
    static func with<T: Sendable>(
        configure: (inout EdgeConfiguration) -> Void = { _ in },
        prepare: (TemporaryDirectory) -> Void,
        _ body: (LiveEdge) async throws -> T
    ) async throws -> T {
        let origin = TemporaryDirectory("origin")
        let cache = TemporaryDirectory("cache")
        defer {
            origin.remove()
            cache.remove()
        }
        prepare(origin)
        var configuration = EdgeConfiguration()
        configuration.listen = HostAndPort(host: "127.0.0.1", port: 0)
        configuration.httpListen = HostAndPort(host: "127.0.0.1", port: 0)
        configuration.cacheDirectory = cache.path
        configuration.cacheSize = 256 << 20
        configuration.upstreams = ["file://\(origin.path)"]
        configure(&configuration)
        var logger = Logger(label: "edge-test")
        logger.logLevel = .critical  // cancelling the server at teardown logs errors that are expected
        let server = EdgeServer(configuration: configuration, logger: logger, registry: PrometheusCollectorRegistry())
        let (ports, continuation) = AsyncStream.makeStream(of: (String, Int).self)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.run(signals: []) { scheme, _, port in continuation.yield((scheme, port)) }
            }
            var found: [String: Int] = [:]
            for await (scheme, port) in ports {
                found[scheme] = port
                if found.count == 2 { break }
            }
            defer { group.cancelAll() }
            return try await body(LiveEdge(https: found["https"]!, http: found["http"]!, origin: origin))
        }
    }
}

/// One client for the whole test process (it lives as long as the process, so it is never shut down).
let sharedClient = makeClient()

/// An HTTP/2-capable client that trusts the edge's self-signed certificate.
func makeClient() -> HTTPClient {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.certificateVerification = .none
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    configuration.httpVersion = .automatic
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}

struct Fetched {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var version: HTTPVersion
}

func fetch(_ client: HTTPClient, _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = []) async throws -> Fetched {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    let response = try await client.execute(request, timeout: .seconds(30))
    var body: [UInt8] = []
    for try await chunk in response.body { body += Array(chunk.readableBytesView) }
    return Fetched(status: Int(response.status.code), headers: response.headers, body: body, version: response.version)
}
