import AsyncHTTPClient
import DePINProtocol
import EdgeCache
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// The edge's side of the coordinator: learns the coordinator's key (kept in the cache folder,
/// so a restart without the coordinator still checks tokens), registers with a request signed
/// by the node's key, and heartbeats every ``interval``. When the coordinator is unreachable
/// it keeps trying and the edge keeps serving what it has.
struct CoordinatorAgent: Service {
    let coordinator: String
    let identity: NodeIdentity
    /// The registration to send; nil until the edge knows its own URL (its listener is up).
    let registration: @Sendable () -> RegistrationRequest?
    let gate: TokenGate
    let cache: EdgeCache
    let client: HTTPClient
    let keyFile: String
    let logger: Logger
    var interval: Duration = .seconds(10)

    func run() async throws {
        if let saved = FileManager.default.contents(atPath: keyFile), saved.count == 32 {
            try? await gate.install(publicKey: saved)
        }
        var registered = false
        var haveFreshKey = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if !haveFreshKey {
                    try await fetchKey()
                    haveFreshKey = true
                }
                if !registered {
                    guard let registration = registration() else {
                        try await Task.sleep(for: .milliseconds(100))
                        continue
                    }
                    try await send("/v1/nodes", registration)
                    registered = true
                    logger.info("registered with \(coordinator) as node \(identity.id)")
                } else {
                    let statistics = cache.statistics
                    let beat = HeartbeatRequest(
                        load: min(1, Double(statistics.fillsInFlight) / 64), freeCacheBytes: Int64(max(0, statistics.capacity - statistics.usedBytes)),
                        healthy: true)
                    try await send("/v1/heartbeat", beat)
                }
            } catch let error as AgentError where error.status == 401 && registered {
                logger.warning("the coordinator no longer knows this node (\(error)); registering again")
                registered = false
                continue
            } catch {
                logger.warning("coordinator \(coordinator): \(error); serving on, retrying")
            }
            do {
                try await Task.sleep(for: registered ? interval : .seconds(2))
            } catch {
                return
            }
        }
    }

    private func fetchKey() async throws {
        let response = try await client.execute(HTTPClientRequest(url: coordinator + "/v1/keys/coordinator"), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok,
            let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let key = (json["publicKey"] as? String).flatMap({ Data(base64Encoded: $0) }), key.count == 32
        else { throw AgentError(status: Int(response.status.code), message: "no coordinator key at \(coordinator)/v1/keys/coordinator") }
        try await gate.install(publicKey: key)
        let temporary = keyFile + ".tmp"
        if FileManager.default.createFile(atPath: temporary, contents: key) { rename(temporary, keyFile) }
    }

    private func send(_ path: String, _ message: some Encodable) async throws {
        let body = try JSONEncoder().encode(message)
        var request = HTTPClientRequest(url: coordinator + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in try SignedRequest.headers(identity: identity, method: "POST", path: path, body: body) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        let answer = try await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw AgentError(status: Int(response.status.code), message: String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}

struct AgentError: Error, CustomStringConvertible {
    let status: Int
    let message: String
    var description: String { "\(status): \(message)" }
}
