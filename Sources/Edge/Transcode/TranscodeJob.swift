import DePINProtocol
import NIOCore
import Synchronization

/// One source segment of one title: what transcode jobs are keyed by.
struct SegmentID: Hashable, Sendable {
    var content: String
    var index: Int
}

/// One pass over one source segment, making every rendition asked for before it started.
///
/// Renditions join while the job fetches its source and waits for a worker slot; once it starts,
/// its set is fixed and a later request for another rendition starts the next job.
final class TranscodeJob: Sendable {
    typealias Output = AsyncThrowingStream<ByteBuffer, any Error>

    let segment: SegmentID
    let manifest: ContentManifest

    private struct State {
        var wanted: [(rendition: Rendition, output: Output.Continuation)] = []
        var started = false
    }
    private let state = Mutex(State())

    init(segment: SegmentID, manifest: ContentManifest) {
        self.segment = segment
        self.manifest = manifest
    }

    /// Adds a rendition's output; false once the job has started.
    func add(_ rendition: Rendition, _ output: Output.Continuation) -> Bool {
        state.withLock { state in
            guard !state.started else { return false }
            state.wanted.append((rendition, output))
            return true
        }
    }

    /// Fixes the set and returns it (the same set on every later call).
    func start() -> [(rendition: Rendition, output: Output.Continuation)] {
        state.withLock { state in
            state.started = true
            return state.wanted
        }
    }
}
