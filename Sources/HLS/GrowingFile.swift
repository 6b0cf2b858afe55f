import Synchronization

/// A file whose bytes are still coming (a live part as its encoder makes it), held in memory
/// in the chunks it came in and readable from the start by any number of readers while it grows:
/// each is given what is here at once and the rest as it comes.
///
/// Thread-safe: the state is behind one `Mutex`; waiters are resumed outside it.
public final class GrowingFile<Chunk: Sendable>: Sendable {
    /// Why a file stopped growing before it was complete.
    public struct Broken: Error, CustomStringConvertible {
        public let description: String
    }

    private struct State {
        var chunks: [Chunk] = []
        var complete = false
        var failure: String?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    /// - Parameter complete: the whole file, when it is known already.
    public init(complete: Chunk? = nil) {
        state = Mutex(State(chunks: complete.map { [$0] } ?? [], complete: complete != nil))
    }

    public var isComplete: Bool { state.withLock { $0.complete } }

    /// Every chunk here so far.
    public var chunks: [Chunk] { state.withLock { $0.chunks } }

    /// More of the file (ignored once it is complete or broken).
    public func append(_ chunk: Chunk) {
        update { state in if !state.complete, state.failure == nil { state.chunks.append(chunk) } }
    }

    /// Every byte is here.
    public func finish() { update { state in if state.failure == nil { state.complete = true } } }

    /// The file will not be complete: readers waiting or still to come throw ``Broken``.
    public func fail(_ why: String) { update { state in if !state.complete { state.failure = why } } }

    /// Chunk `index` (from 0), waiting for it if it is still to come.
    /// - Returns: nil past the end of a complete file.
    /// - Throws: ``Broken`` when the file broke off.
    public func chunk(at index: Int) async throws(Broken) -> Chunk? {
        while true {
            let (chunk, done) = try state.withLock { state throws(Broken) -> (Chunk?, Bool) in
                if let failure = state.failure { throw Broken(description: failure) }
                if index < state.chunks.count { return (state.chunks[index], false) }
                return (nil, state.complete)
            }
            if chunk != nil || done { return chunk }
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    if state.failure != nil || state.complete || state.chunks.count > index { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// Calls `write` with every chunk from the first, as they come, until the file is complete.
    public func read(_ write: (Chunk) async throws -> Void) async throws {
        var index = 0
        while let chunk = try await chunk(at: index) {
            index += 1
            try await write(chunk)
        }
    }

    private func update(_ change: (inout State) -> Void) {
        let waiters = state.withLock { state in
            change(&state)
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
