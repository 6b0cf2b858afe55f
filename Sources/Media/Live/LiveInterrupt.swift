import CFFmpeg
import Foundation
import Synchronization

/// FFmpeg's interrupt callback for a live input: aborts a blocking open or read when the ingest
/// is stopped or when the deadline passes (nobody connected, or a connected pusher went quiet).
final class LiveInterrupt: Sendable {
    let stopped = Atomic<Bool>(false)
    /// Monotonic nanoseconds after which waiting is over.
    private let deadline = Atomic<UInt64>(.max)

    /// Waiting may go on `seconds` from now.
    func arm(seconds: Double) {
        deadline.store(DispatchTime.now().uptimeNanoseconds + UInt64(max(seconds, 0) * 1e9), ordering: .relaxed)
    }

    var expired: Bool { DispatchTime.now().uptimeNanoseconds > deadline.load(ordering: .relaxed) }

    /// The source whose pusher is checked against what FFmpeg logged (no closure is kept here:
    /// one stored in a `Mutex` and called from C recursed through reabstraction thunks).
    private let checked = Mutex<LiveSource?>(nil)

    /// Also aborts while `source`'s connected pusher must be refused (nil: no such check).
    func refuse(for source: LiveSource?) { checked.withLock { $0 = source } }

    /// Whether the connected pusher must be refused, judging by what FFmpeg logged.
    private var mustRefuse: Bool { checked.withLock { $0 }?.refusal(FFmpegLog.watchedLine) != nil }

    var callback: AVIOInterruptCB {
        AVIOInterruptCB(
            callback: { opaque in
                let interrupt = Unmanaged<LiveInterrupt>.fromOpaque(opaque!).takeUnretainedValue()
                if interrupt.stopped.load(ordering: .relaxed) || interrupt.expired { return 1 }
                return interrupt.mustRefuse ? 1 : 0
            },
            opaque: Unmanaged.passUnretained(self).toOpaque())
    }
}
