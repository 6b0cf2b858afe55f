import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Registers a published title and its content key with a coordinator (`POST /v1/contents`),
/// then uploads the title's source to the hosting edges the coordinator chose.
package enum ContentRegistrar {
    package struct Failure: Error, CustomStringConvertible {
        package let description: String

        package init(description: String) { self.description = description }
    }

    /// - Returns: the hosts the coordinator chose, each with its upload token.
    package static func register(manifest: ContentManifest, key: Data, coordinator: String, adminToken: String) async throws -> [ContentRegistrationAnswer.Host] {
        let base = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
        guard let url = URL(string: base + "/v1/contents"), ["http", "https"].contains(url.scheme ?? "") else {
            throw Failure(description: "--coordinator must be an http:// or https:// URL")
        }
        let body = try JSONEncoder().encode(ContentRegistration(manifest: manifest, key: key.base64EncodedString()))
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let answer = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .created else {
            throw Failure(description: "\(response.status.code): \(String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        do {
            return try JSONDecoder().decode(ContentRegistrationAnswer.self, from: Data(answer.readableBytesView)).hosts
        } catch {
            throw Failure(description: "the coordinator's answer does not decode: \(error)")
        }
    }

    /// A client for uploads to hosting edges: HTTP/1.1, no redirects, trusting `caFile` besides
    /// the system's roots. The caller shuts it down.
    /// - Parameter connect: how long a connection may take (AsyncHTTPClient keeps trying a host
    ///   that refuses until then).
    package static func hostClient(caFile: String?, connect: TimeAmount = .seconds(10)) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: connect, read: .seconds(60)))
        configuration.httpVersion = .http1Only
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            } catch {
                throw Failure(description: "--ca-file \(caFile) is not a readable PEM certificate: \(error)")
            }
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Uploads every file of the title in `directory` to each host (`PUT {host}/hosting/{id}/{path}`,
    /// HTTP/1.1, the manifest first), trusting `caFile` besides the system's roots.
    /// - Returns: per host, nil when every file landed, else why not.
    package static func upload(
        manifest: ContentManifest, directory: String, to hosts: [ContentRegistrationAnswer.Host], caFile: String?,
        progress: (String) -> Void
    ) async throws -> [(host: ContentRegistrationAnswer.Host, failure: String?)] {
        let client = try hostClient(caFile: caFile)
        var results: [(ContentRegistrationAnswer.Host, String?)] = []
        for host in hosts {
            var failure: String?
            var bytes = 0
            for path in manifest.hostedFiles {
                guard let data = FileManager.default.contents(atPath: "\(directory)/\(path)") else {
                    failure = "\(directory)/\(path) is missing"
                    break
                }
                var request = HTTPClientRequest(url: "\(host.url)/hosting/\(manifest.id)/\(path)")
                request.method = .PUT
                request.headers.add(name: "Authorization", value: "Bearer \(host.token)")
                request.body = .bytes(ByteBuffer(bytes: data))
                do {
                    let response = try await client.execute(request, timeout: .seconds(120))
                    let answer = try await response.body.collect(upTo: 64 * 1024)
                    guard (200..<300).contains(Int(response.status.code)) else {
                        failure = "\(path): \(response.status.code) \(String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))"
                        break
                    }
                    bytes += data.count
                } catch {
                    failure = "\(path): \(error)"
                    break
                }
            }
            progress(failure.map { "upload to \(host.id) at \(host.url) failed: \($0)" } ?? "uploaded \(manifest.id) to \(host.id) at \(host.url) (\(bytes) bytes)")
            results.append((host, failure))
        }
        try await client.shutdown()
        return results
    }
}
