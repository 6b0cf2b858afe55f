import AsyncHTTPClient
import DePINProtocol
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import Synchronization

/// What an edge asks the coordinator on a viewer's behalf, with the viewer's own token: the
/// title's HLS key, served on the edge's own origin (`GET /v/{content}/key?token=T`) so that
/// playlist, key and segments share one origin, as Chromium's HLS player requires; and the
/// session's Content Steering pathways, for its master playlist.
///
/// The viewer's token is checked by the edge's ``TokenGate`` first, exactly as for media; the
/// key is then asked of the coordinator's key service with that same token
/// (`GET /v1/hls-key/{content}`, `Authorization: Bearer`), which checks it again. A key is kept
/// in memory only, never on disk, and for no longer than the token it was fetched with is valid:
/// other viewers of the title (each with a token the gate verified) are answered from memory
/// until then. Concurrent misses for one title share one request to the coordinator.
///
/// ## Performance characteristics
/// A remembered key costs one lock and a dictionary look-up; at most ``maxTitles`` keys are
/// kept (the soonest to expire are dropped first).
final class ViewerRelay: Sendable {
    /// The coordinator's base URL, without a trailing slash.
    let coordinator: String
    let client: HTTPClient
    static let maxTitles = 10_000

    private struct Remembered {
        var key: [UInt8]
        var expiresAt: Int64
    }

    private struct State {
        var keys: [String: Remembered] = [:]
        var inFlight: [String: Task<Remembered, any Error>] = [:]
    }

    private let state = Mutex(State())

    init(coordinator: String, client: HTTPClient) {
        self.coordinator = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
        self.client = client
    }

    /// The 16-byte key of `content` for a viewer whose `token` the gate accepted for it.
    /// - Parameter tokenExpiresAt: when `token` expires (seconds since 1970): a key fetched
    ///   with it is forgotten then.
    /// - Throws: ``HTTPFailure`` with the coordinator's status and reason, or 502 when it could
    ///   not be asked.
    func key(content: String, token: String, tokenExpiresAt: Int64, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws(HTTPFailure) -> [UInt8] {
        let task: Task<Remembered, any Error> = state.withLock { state in
            if let known = state.keys[content], known.expiresAt > now { return Task { known } }
            if let running = state.inFlight[content] { return running }
            let running = Task { [coordinator, client] in
                let key = try await Self.fetch(content: content, token: token, coordinator: coordinator, client: client)
                return Remembered(key: key, expiresAt: tokenExpiresAt)
            }
            state.inFlight[content] = running
            return running
        }
        let remembered: Remembered
        do {
            remembered = try await task.value
        } catch {
            state.withLock { state in
                if state.inFlight[content] == task { state.inFlight[content] = nil }
            }
            if let failure = error as? HTTPFailure { throw failure }
            throw HTTPFailure(status: .badGateway, message: "the coordinator's key service could not be asked: \(error)")
        }
        state.withLock { state in
            guard state.inFlight[content] == task else { return }
            state.inFlight[content] = nil
            state.keys = state.keys.filter { $0.value.expiresAt > now }
            if state.keys.count >= Self.maxTitles, let soonest = state.keys.min(by: { $0.value.expiresAt < $1.value.expiresAt }) {
                state.keys[soonest.key] = nil
            }
            state.keys[content] = remembered
        }
        return remembered.key
    }

    /// Titles whose key is in memory now (for tests and `/healthz`).
    var rememberedTitles: Int { state.withLock { $0.keys.count } }

    /// The session's pathways in steering order (`GET /v1/pathways/{content}`).
    func pathways(content: String, token: String) async throws(HTTPFailure) -> SessionPathways {
        do {
            let body = try await Self.get("/v1/pathways/\(content)", token: token, coordinator: coordinator, client: client, service: "steering service")
            return try JSONDecoder().decode(SessionPathways.self, from: Data(body.readableBytesView))
        } catch let failure as HTTPFailure {
            throw failure
        } catch {
            throw HTTPFailure(status: .badGateway, message: "the coordinator's steering service could not be asked: \(error)")
        }
    }

    /// GETs `path` from the coordinator with the viewer's token.
    /// - Throws: ``HTTPFailure``: the coordinator's refusals (401, 403, 404) as they are, any
    ///   other answer as 502; transport errors as they are.
    private static func get(_ path: String, token: String, coordinator: String, client: HTTPClient, service: String) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: coordinator + path)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 10)
        let status = Int(response.status.code)
        guard status == 200 else {
            let reason = ErrorAnswer.reason(in: body.readableBytesView)
            let relayed: HTTPResponse.Status = [401, 403, 404].contains(status) ? .init(code: status) : .badGateway
            throw HTTPFailure(status: relayed, message: "the coordinator's \(service) answered \(status): \(reason.prefix(300))")
        }
        return body
    }

    private static func fetch(content: String, token: String, coordinator: String, client: HTTPClient) async throws -> [UInt8] {
        let body = try await get("/v1/hls-key/\(content)", token: token, coordinator: coordinator, client: client, service: "key service")
        guard body.readableBytes == 16 else {
            throw HTTPFailure(status: .badGateway, message: "the coordinator's key service sent \(body.readableBytes) bytes, not a 16-byte AES-128 key")
        }
        return Array(body.readableBytesView)
    }
}
