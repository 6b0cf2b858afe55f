import NIOCore
import Synchronization

/// One object being filled from upstream, shared by every request that waits for it.
///
/// The fill writes into a temporary file; readers `pread` the same descriptor, so they can follow
/// the bytes as they arrive and never race the rename that publishes the object. Readers wait
/// for the head (length known) and for byte counts; the filler reports progress and the outcome.
///
/// Thread-safe: all state is in a `Mutex`; waiters are resumed outside the lock.
package final class Fill: Sendable {
    package let key: CacheKey
    package let temporaryPath: String
    package let file: FileDescriptor
    /// Whether the object goes into the memory hot set as soon as it is stored (its first
    /// readers are expected all at once: a live part fetched ahead of its viewers), rather than
    /// on its second disk read.
    package let keepsInMemory: Bool

    /// What readers may know once the first origin answered.
    package struct Head: Sendable, Equatable {
        package var totalLength: Int?
        package var lastModified: Int64?
        /// Known before the end only when the origin vouched for it.
        package var sha256Hex: String?
    }

    package enum Outcome: Sendable {
        case complete(ObjectMetadata)
        case failed(any Error)
    }

    private struct Waiter {
        var id: Int
        var bytes: Int  // resume when this many bytes are written; Int.max: the outcome
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var head: Head?
        var written = 0
        /// Every byte is written and checked; publishing (fsync, rename) may still be under way.
        var ended = false
        var outcome: Outcome?
        var waiters: [Waiter] = []
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    package init(key: CacheKey, temporaryPath: String, file: FileDescriptor, keepsInMemory: Bool = false) {
        self.key = key
        self.temporaryPath = temporaryPath
        self.file = file
        self.keepsInMemory = keepsInMemory
    }

    // MARK: filler side

    func publishHead(_ head: Head) {
        let ready = state.withLock { state -> [Waiter] in
            state.head = head
            return Self.takeReady(&state)
        }
        ready.forEach { $0.continuation.resume() }
    }

    func progress(written: Int) {
        let ready = state.withLock { state -> [Waiter] in
            state.written = written
            return Self.takeReady(&state)
        }
        ready.forEach { $0.continuation.resume() }
    }

    /// Says every byte is written and checked, before the object is made durable, so readers
    /// streaming an object of unknown length can end their responses without waiting for fsync.
    func endWriting() {
        let all = state.withLock { state -> [Waiter] in
            state.ended = true
            defer { state.waiters.removeAll { $0.bytes != Int.max } }
            return state.waiters.filter { $0.bytes != Int.max }
        }
        all.forEach { $0.continuation.resume() }
    }

    func finish(_ outcome: Outcome) {
        let all = state.withLock { state -> [Waiter] in
            state.outcome = outcome
            defer { state.waiters = [] }
            return state.waiters
        }
        all.forEach { $0.continuation.resume() }
    }

    private static func takeReady(_ state: inout State) -> [Waiter] {
        guard state.head != nil else { return [] }
        var ready: [Waiter] = []
        state.waiters.removeAll { waiter in
            if waiter.bytes <= state.written {
                ready.append(waiter)
                return true
            }
            return false
        }
        return ready
    }

    // MARK: reader side

    /// Waits until the first origin answered; throws the fill's error if every origin failed.
    package func head() async throws -> Head {
        while true {
            let snapshot = state.withLock { ($0.head, $0.outcome) }
            if case .failed(let error) = snapshot.1 { throw error }
            if let head = snapshot.0 { return head }
            try await wait(forBytes: 0)
        }
    }

    /// Waits until at least `count` bytes are written (or all are) and says how many are, and
    /// whether that is all of them.
    /// - Throws: the fill's error if it failed.
    package func available(atLeast count: Int) async throws -> (written: Int, complete: Bool) {
        while true {
            let snapshot = state.withLock { ($0.written, $0.outcome, $0.head != nil, $0.ended) }
            if case .failed(let error) = snapshot.1 { throw error }
            let complete = snapshot.1 != nil || snapshot.3
            if complete || (snapshot.2 && snapshot.0 >= count) { return (snapshot.0, complete) }
            try await wait(forBytes: count)
        }
    }

    /// Waits for the outcome.
    package func outcome() async throws -> Outcome {
        while true {
            if let outcome = state.withLock({ $0.outcome }) { return outcome }
            try await wait(forBytes: Int.max)
        }
    }

    private func wait(forBytes bytes: Int) async throws {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    let ready = state.outcome != nil || (state.head != nil && bytes <= state.written && bytes != Int.max)
                        || (state.ended && bytes != Int.max)
                    if ready || Task.isCancelled { return true }
                    state.waiters.append(Waiter(id: id, bytes: bytes, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let i = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: i)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
