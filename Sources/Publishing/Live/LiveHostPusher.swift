import AsyncHTTPClient
import DePINProtocol
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One hosting edge of a live title, fed as files are made: `PUT {host}/live-hosting/{id}/{path}`
/// with the host's upload token, one at a time and in order, so a part always lands before the
/// playlist that lists it. A playlist still queued when a newer one of the same rung comes is
/// dropped (only the newest matters). A file that fails is tried twice more; then, or when the
/// queue grows past ``maxQueuedBytes`` (the host cannot keep up), the host counts as gone and
/// `gone` is called once.
package final class LiveHostPusher: LiveDestination, @unchecked Sendable {
    package let host: ContentRegistrationAnswer.Host
    package let content: String
    /// Bytes waiting at most before the host counts as too slow.
    package static let maxQueuedBytes = 64 << 20

    private struct Queued {
        var path: String
        var bytes: [UInt8]
        var kind: LiveFileKind
        var entered: Date?
    }
    private struct State {
        var queue: [Queued] = []
        var bytes = 0
        var running = false
        var failed = false
        var drained: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    private let client: HTTPClient
    private let latency: LiveLatency?
    private let gone: @Sendable (LiveHostPusher, String) -> Void

    package init(
        host: ContentRegistrationAnswer.Host, content: String, client: HTTPClient, latency: LiveLatency?,
        gone: @escaping @Sendable (LiveHostPusher, String) -> Void
    ) {
        self.host = host
        self.content = content
        self.client = client
        self.latency = latency
        self.gone = gone
    }

    /// True once the host counted as gone.
    package var failed: Bool { state.withLock { $0.failed } }

    package func put(_ path: String, _ bytes: [UInt8], kind: LiveFileKind, entered: Date?) {
        enqueue(Queued(path: path, bytes: bytes, kind: kind, entered: entered))
    }

    /// Hosts prune what fell behind the window themselves.
    package func delete(_ path: String) {}

    package func drain() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                if !state.running || state.failed { return true }
                state.drained.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private func enqueue(_ item: Queued) {
        let (start, overflow) = state.withLock { state -> (Bool, Bool) in
            guard !state.failed else { return (false, false) }
            if item.kind == .playlist || item.kind == .master, let old = state.queue.firstIndex(where: { $0.path == item.path }) {
                state.bytes -= state.queue[old].bytes.count
                state.queue.remove(at: old)
            }
            state.queue.append(item)
            state.bytes += item.bytes.count
            if state.bytes > Self.maxQueuedBytes { return (false, true) }
            let start = !state.running
            state.running = true
            return (start, false)
        }
        if overflow {
            fail("\(Self.maxQueuedBytes >> 20) MiB waiting: the host does not keep up")
        } else if start {
            Task { await self.run() }
        }
    }

    private func run() async {
        while let item = next() {
            var lastError = ""
            var stored = false
            for attempt in 0..<3 {
                if attempt > 0 { try? await Task.sleep(for: .milliseconds(150 * attempt)) }
                do {
                    try await send(item)
                    stored = true
                    break
                } catch let refusal as Refusal {
                    // A refusal the host means (a 4xx) will not change with another try.
                    lastError = refusal.description
                    if refusal.final { break }
                } catch {
                    lastError = "\(error)"
                }
            }
            if stored {
                if let entered = item.entered { latency?.record("host \(host.id)", seconds: Date().timeIntervalSince(entered)) }
            } else if item.kind == .playlist, lastError.hasPrefix("409") {
                continue  // a playlist the host already has newer: nothing lost
            } else {
                fail("\(item.path): \(lastError)")
                return
            }
        }
    }

    private func next() -> Queued? {
        let (item, waiters) = state.withLock { state -> (Queued?, [CheckedContinuation<Void, Never>]) in
            guard !state.failed, !state.queue.isEmpty else {
                state.running = false
                let waiters = state.drained
                state.drained = []
                return (nil, waiters)
            }
            let item = state.queue.removeFirst()
            state.bytes -= item.bytes.count
            return (item, [])
        }
        for waiter in waiters { waiter.resume() }
        return item
    }

    private struct Refusal: Error, CustomStringConvertible {
        let description: String
        let final: Bool
    }

    private func send(_ item: Queued) async throws {
        var request = HTTPClientRequest(url: "\(host.url)/live-hosting/\(content)/\(item.path)")
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(host.token)")
        request.body = .bytes(ByteBuffer(bytes: item.bytes))
        // A part is due every half second: a host that takes seconds to store one is not keeping up.
        let response = try await client.execute(request, timeout: .seconds(item.kind == .segment ? 10 : 3))
        let answer = try await response.body.collect(upTo: 64 * 1024)
        let code = Int(response.status.code)
        guard (200..<300).contains(code) else {
            throw Refusal(description: "\(code) \(String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))", final: (400..<500).contains(code))
        }
    }

    private func fail(_ why: String) {
        let (first, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            let first = !state.failed
            state.failed = true
            state.running = false
            state.queue = []
            state.bytes = 0
            let waiters = state.drained
            state.drained = []
            return (first, waiters)
        }
        for waiter in waiters { waiter.resume() }
        if first { gone(self, why) }
    }
}
