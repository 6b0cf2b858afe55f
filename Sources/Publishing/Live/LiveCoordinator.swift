import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// The coordinator's live-title API as the ingest uses it, with the publisher's admin token.
package struct LiveCoordinator: Sendable {
    package let base: String
    package let adminToken: String

    package init(base: String, adminToken: String) throws {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        guard let url = URL(string: trimmed), ["http", "https"].contains(url.scheme ?? "") else {
            throw ContentRegistrar.Failure(description: "--coordinator must be an http:// or https:// URL")
        }
        self.base = trimmed
        self.adminToken = adminToken
    }

    /// `POST /v1/live`: the stream key and the hosts near `latitude`, `longitude`.
    package func register(id: String, key: [UInt8], latitude: Double, longitude: Double) async throws -> LiveRegistrationAnswer {
        let body = LiveRegistration(id: id, key: Data(key).base64EncodedString(), latitude: latitude, longitude: longitude)
        return try await call("/v1/live", body, expect: [.created])
    }

    /// `POST /v1/live/{id}/check`: whether `streamKey` opens the title now.
    package func check(id: String, streamKey: String) async throws -> Bool {
        do {
            let _: [String: String] = try await call("/v1/live/\(id)/check", StreamKeyCheck(streamKey: streamKey), expect: [.ok])
            return true
        } catch let failure as ContentRegistrar.Failure where failure.description.hasPrefix("403") || failure.description.hasPrefix("409") {
            return false
        }
    }

    /// `POST /v1/live/{id}/hosts`: a host that is none of `exclude`.
    package func replacement(id: String, exclude: [String], gone: [String]) async throws -> [ContentRegistrationAnswer.Host] {
        let answer: ContentRegistrationAnswer = try await call("/v1/live/\(id)/hosts", LiveHostRequest(exclude: exclude, gone: gone), expect: [.ok])
        return answer.hosts
    }

    /// `POST /v1/live/{id}/end`: the recording's hosts (each with an upload token).
    package func end(id: String, recording: ContentManifest?) async throws -> [ContentRegistrationAnswer.Host] {
        let answer: ContentRegistrationAnswer = try await call("/v1/live/\(id)/end", LiveEnd(recording: recording), expect: [.ok, .created])
        return answer.hosts
    }

    private func call<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body, expect: Set<HTTPResponseStatus>) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(adminToken)")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
        let answer = try await response.body.collect(upTo: 1 << 20)
        guard expect.contains(response.status) else {
            throw ContentRegistrar.Failure(description: "\(response.status.code): \(String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(answer.readableBytesView))
        } catch {
            throw ContentRegistrar.Failure(description: "the coordinator's answer to \(path) does not decode: \(error)")
        }
    }
}
