import AsyncHTTPClient
import DePINProtocol
import Foundation
import HLS
import NIOCore
import NIOHTTP1
import Synchronization

/// One hosting edge of a live title, fed as files are made: `PUT {host}/live-hosting/{id}/{path}`
/// with the host's upload token.
///
/// Each rung has a lane of its own (the master playlist one more), and a lane sends one file
/// at a time, in order, so a part always lands before the playlist that lists it while the rungs
/// travel side by side. A part is sent as it is made: its request begins with the part's first
/// frame and its body follows the encoder, so the host can hand the part to viewers while it is
/// still arriving. A playlist still queued when a newer one of the same rung comes is dropped
/// (only the newest matters). A file that fails is tried twice more (a part from its first
/// byte); then, or when more than ``maxQueuedBytes`` wait (the host cannot keep up), the host
/// counts as gone and `gone` is called once.
package final class LiveHostPusher: LiveDestination, @unchecked Sendable {
    package let host: ContentRegistrationAnswer.Host
    package let content: String
    /// Bytes waiting at most before the host counts as too slow.
    package static let maxQueuedBytes = 64 << 20

    private struct Lane {
        var queue: [Outgoing] = []
        var running = false
    }
    private struct State {
        var lanes: [String: Lane] = [:]
        /// Parts begun and not yet ended, by path.
        var growing: [String: Outgoing] = [:]
        var bytes = 0
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
        enqueue(Outgoing(path: path, kind: kind, entered: entered, whole: bytes))
    }

    package func beginPart(_ path: String, entered: Date?) {
        let part = Outgoing(path: path, kind: .part, entered: entered, whole: nil)
        state.withLock { $0.growing[path] = part }
        enqueue(part)
    }

    package func appendPart(_ path: String, _ bytes: [UInt8]) {
        let (part, overflow) = state.withLock { state -> (Outgoing?, Bool) in
            guard !state.failed, let part = state.growing[path] else { return (nil, false) }
            state.bytes += bytes.count
            return (part, state.bytes > Self.maxQueuedBytes)
        }
        guard let part else { return }
        part.append(bytes)
        if overflow { fail("\(Self.maxQueuedBytes >> 20) MiB waiting: the host does not keep up") }
    }

    package func endPart(_ path: String, _ whole: [UInt8], entered: Date?) {
        let part = state.withLock { state -> Outgoing? in
            guard let part = state.growing.removeValue(forKey: path) else { return nil }
            state.bytes += max(whole.count - part.count, 0)
            return part
        }
        if let part { part.complete(whole) } else { put(path, whole, kind: .part, entered: entered) }
    }

    /// Hosts prune what fell behind the window themselves.
    package func delete(_ path: String) {}

    package func drain() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                if state.failed || !state.lanes.values.contains(where: \.running) { return true }
                state.drained.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Rungs travel side by side; the master playlist has the lane "".
    private static func lane(of path: String) -> String {
        path.firstIndex(of: "/").map { String(path[..<$0]) } ?? ""
    }

    private func enqueue(_ item: Outgoing) {
        let lane = Self.lane(of: item.path)
        let (start, overflow) = state.withLock { state -> (Bool, Bool) in
            guard !state.failed else { return (false, false) }
            var queue = state.lanes[lane, default: Lane()]
            if item.kind == .playlist || item.kind == .master, let old = queue.queue.firstIndex(where: { $0.path == item.path }) {
                state.bytes -= queue.queue[old].count
                queue.queue.remove(at: old)
            }
            queue.queue.append(item)
            state.bytes += item.count
            let start = !queue.running
            queue.running = true
            state.lanes[lane] = queue
            return (start, state.bytes > Self.maxQueuedBytes)
        }
        if overflow {
            fail("\(Self.maxQueuedBytes >> 20) MiB waiting: the host does not keep up")
        } else if start {
            Task { await self.run(lane) }
        }
    }

    private func run(_ lane: String) async {
        while let item = next(lane) {
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
            state.withLock { $0.bytes -= item.count }
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

    private func next(_ lane: String) -> Outgoing? {
        let (item, waiters) = state.withLock { state -> (Outgoing?, [CheckedContinuation<Void, Never>]) in
            guard !state.failed, var queue = state.lanes[lane], !queue.queue.isEmpty else {
                state.lanes[lane]?.running = false
                guard !state.lanes.values.contains(where: \.running) else { return (nil, []) }
                let waiters = state.drained
                state.drained = []
                return (nil, waiters)
            }
            let item = queue.queue.removeFirst()
            state.lanes[lane] = queue
            return (item, [])
        }
        for waiter in waiters { waiter.resume() }
        return item
    }

    private struct Refusal: Error, CustomStringConvertible {
        let description: String
        let final: Bool
    }

    private func send(_ item: Outgoing) async throws {
        var request = HTTPClientRequest(url: "\(host.url)/live-hosting/\(content)/\(item.path)")
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(host.token)")
        if let whole = item.whole {
            request.body = .bytes(ByteBuffer(bytes: whole))
        } else {
            request.body = .stream(item.chunks(), length: .unknown)
        }
        // A part is due every half second: a host that takes seconds to store one is not keeping
        // up. A part still being made may take as long as the ingest waits for a quiet pusher.
        let timeout: TimeAmount = item.kind == .segment ? .seconds(10) : item.whole == nil ? .seconds(15) : .seconds(3)
        let response = try await client.execute(request, timeout: timeout)
        let answer = try await response.body.collect(upTo: 64 * 1024)
        let code = Int(response.status.code)
        guard (200..<300).contains(code) else {
            throw Refusal(description: "\(code) \(String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines))", final: (400..<500).contains(code))
        }
    }

    private func fail(_ why: String) {
        let (first, waiters, open) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>], [Outgoing]) in
            let first = !state.failed
            state.failed = true
            for lane in state.lanes.keys { state.lanes[lane] = Lane() }
            let open = Array(state.growing.values)
            state.growing = [:]
            state.bytes = 0
            let waiters = state.drained
            state.drained = []
            return (first, waiters, open)
        }
        for part in open { part.abandon() }
        for waiter in waiters { waiter.resume() }
        if first { gone(self, why) }
    }
}

/// One file on its way to a host: whole from the start, or a part whose bytes are still coming.
/// A part's bytes are kept until it is sent, so a failed request can be tried again from the
/// start (its body is the same growing file read from its first byte).
final class Outgoing: Sendable {
    let path: String
    let kind: LiveFileKind
    let entered: Date?
    /// The file, when it was whole from the start.
    let whole: [UInt8]?
    private let file: Mutex<GrowingFile<[UInt8]>>
    private let held = Atomic<Int>(0)

    /// - Parameter whole: the file, or nil for a part whose bytes follow.
    init(path: String, kind: LiveFileKind, entered: Date?, whole: [UInt8]?) {
        self.path = path
        self.kind = kind
        self.entered = entered
        self.whole = whole
        file = Mutex(GrowingFile())
        held.store(whole?.count ?? 0, ordering: .relaxed)
    }

    /// Bytes held.
    var count: Int { held.load(ordering: .relaxed) }

    func append(_ bytes: [UInt8]) {
        held.add(bytes.count, ordering: .relaxed)
        file.withLock { $0 }.append(bytes)
    }

    /// The part is complete; `whole` is all of it. What was appended is its beginning (the
    /// ingest encrypts a part's blocks once, in order), so only the rest is added. Should more
    /// have been appended than `whole` holds, a request under way fails and the next try sends
    /// `whole`.
    func complete(_ whole: [UInt8]) {
        let sent = held.load(ordering: .relaxed)
        let current = file.withLock { $0 }
        if sent <= whole.count {
            current.append(Array(whole[sent...]))
            current.finish()
        } else {
            file.withLock { $0 = GrowingFile(complete: whole) }
            current.fail("\(path) was made again")
        }
        held.store(whole.count, ordering: .relaxed)
    }

    /// The host is gone: a request under way ends.
    func abandon() { file.withLock { $0 }.fail("the host is gone") }

    /// The part's bytes from the first, each as soon as it is here, ending when it is complete.
    func chunks() -> Chunks { Chunks(file: file.withLock { $0 }) }
    struct Chunks: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let file: GrowingFile<[UInt8]>

        func makeAsyncIterator() -> Iterator { Iterator(file: file) }

        struct Iterator: AsyncIteratorProtocol {
            let file: GrowingFile<[UInt8]>
            var index = 0

            mutating func next() async throws -> ByteBuffer? {
                guard let chunk = try await file.chunk(at: index) else { return nil }
                index += 1
                return ByteBuffer(bytes: chunk)
            }
        }
    }
}
