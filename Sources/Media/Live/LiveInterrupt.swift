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

    private let refusing = Mutex<(@Sendable () -> Bool)?>(nil)

    /// Also aborts while `check` says the connected pusher must be refused (nil: no such check).
    func refuse(_ check: (@Sendable () -> Bool)?) { refusing.withLock { $0 = check } }

    var callback: AVIOInterruptCB {
        AVIOInterruptCB(
            callback: { opaque in
                let interrupt = Unmanaged<LiveInterrupt>.fromOpaque(opaque!).takeUnretainedValue()
                if interrupt.stopped.load(ordering: .relaxed) || interrupt.expired { return 1 }
                return interrupt.refusing.withLock { $0?() ?? false } ? 1 : 0
            },
            opaque: Unmanaged.passUnretained(self).toOpaque())
    }
}
