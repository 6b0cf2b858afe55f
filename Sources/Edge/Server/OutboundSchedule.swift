import NIOCore
import NIOHTTP2

/// The DATA an HTTP/2 connection has to send, paced so the connection holds a bounded number of
/// bytes below the edge (in NIOHTTP2's flow-control buffers, NIOSSL's ciphertext and the
/// socket's queue) whatever its client asks for and however slowly it reads.
///
/// A body is cut into slices of at most ``sliceSize`` bytes (slices of the same storage: a hot
/// object is never copied). A stream starts no slice while it has ``streamWindow`` bytes in
/// flight, streams take turns a slice at a time, and no slice starts while ``bytesInFlight`` is at
/// the ``budget``. A stream whose client stops reading therefore pins a window, not its whole
/// body, and ``stalled(olderThan:)`` names it once it has made no progress for the stall timeout,
/// whether its body came from memory or disk. A window of several slices lets a part go to the
/// socket in one write (see ``FlushCoalescingHandler``) while TLS still seals a slice at a time.
///
/// A state machine: the handler feeds it events and performs what it returns.
/// Not thread-safe; lives on the connection's event loop.
///
/// ## Performance characteristics
/// O(1) per slice: a dictionary look-up and a ring-buffer push or pop.
struct OutboundSchedule {
    struct Slice {
        var buffer: ByteBuffer
        var endStream: Bool
        /// Completed once this slice is written; only a body write's last slice carries one.
        var promise: EventLoopPromise<Void>?
    }

    private struct StreamState {
        var pending = CircularBuffer<Slice>(initialCapacity: 4)
        /// Bytes written and not yet completed.
        var inFlight = 0
        /// Named in `ready`.
        var queued = false
        var lastProgress: NIODeadline

        /// It has a slice to send and room in its window.
        func canSend(window: Int) -> Bool { !pending.isEmpty && inFlight < window }
    }

    /// Bytes the connection may have written and not yet seen completed.
    let budget: Int
    let sliceSize: Int
    /// Bytes one stream may have in flight.
    let streamWindow: Int
    private(set) var bytesInFlight = 0
    private var streams: [HTTP2StreamID: StreamState] = [:]
    /// Streams with a slice to send and room in their window, in turn order (may name a stream
    /// that was since removed; ``next()`` skips those).
    private var ready = CircularBuffer<HTTP2StreamID>(initialCapacity: 16)

    init(budget: Int = 1 << 20, sliceSize: Int = 16 << 10, streamWindow: Int = 64 << 10) {
        precondition(budget >= streamWindow && streamWindow >= sliceSize && sliceSize > 0, "OutboundSchedule: the budget must hold a window, a window a slice")
        self.budget = budget
        self.sliceSize = sliceSize
        self.streamWindow = streamWindow
    }

    var isEmpty: Bool { streams.isEmpty }

    /// Queues `buffer` for `streamID`, cut into slices; `promise` completes with the last slice.
    mutating func enqueue(_ buffer: ByteBuffer, endStream: Bool, promise: EventLoopPromise<Void>?, streamID: HTTP2StreamID, now: NIODeadline) {
        var state = streams[streamID] ?? StreamState(lastProgress: now)
        if state.pending.isEmpty && state.inFlight == 0 { state.lastProgress = now }
        var rest = buffer
        while rest.readableBytes > sliceSize, let slice = rest.readSlice(length: sliceSize) {
            state.pending.append(Slice(buffer: slice, endStream: false, promise: nil))
        }
        state.pending.append(Slice(buffer: rest, endStream: endStream, promise: promise))
        queueIfReady(&state, streamID)
        streams[streamID] = state
    }

    /// The next slice to write, if the budget allows one; it is in flight from now on.
    mutating func next() -> (streamID: HTTP2StreamID, slice: Slice)? {
        while bytesInFlight < budget, let streamID = ready.popFirst() {
            guard var state = streams[streamID] else { continue }
            state.queued = false
            guard state.canSend(window: streamWindow), let slice = state.pending.popFirst() else {
                streams[streamID] = state
                continue
            }
            state.inFlight += slice.buffer.readableBytes
            queueIfReady(&state, streamID)  // its next slice waits for the other streams' turns
            streams[streamID] = state
            bytesInFlight += slice.buffer.readableBytes
            return (streamID, slice)
        }
        return nil
    }

    private mutating func queueIfReady(_ state: inout StreamState, _ streamID: HTTP2StreamID) {
        guard !state.queued, state.canSend(window: streamWindow) else { return }
        state.queued = true
        ready.append(streamID)
    }

    /// A slice of `bytes` bytes for `streamID` was written (or failed): its stream may send again.
    mutating func completed(streamID: HTTP2StreamID, bytes: Int, now: NIODeadline) {
        bytesInFlight -= bytes
        assert(bytesInFlight >= 0, "OutboundSchedule: more bytes completed than were in flight")
        guard var state = streams[streamID] else { return }
        state.inFlight -= bytes
        state.lastProgress = now
        if state.pending.isEmpty && state.inFlight == 0 {
            streams[streamID] = nil
        } else {
            queueIfReady(&state, streamID)
            streams[streamID] = state
        }
    }

    /// Forgets `streamID` (reset or closed) and returns the promises of its unsent slices, for
    /// the caller to fail. A slice in flight still completes through ``completed``.
    mutating func remove(_ streamID: HTTP2StreamID) -> [EventLoopPromise<Void>] {
        guard let state = streams.removeValue(forKey: streamID) else { return [] }
        return state.pending.compactMap(\.promise)
    }

    /// Streams with bytes to send that have made no progress since `deadline`.
    func stalled(olderThan deadline: NIODeadline) -> [HTTP2StreamID] {
        streams.compactMap { $0.value.lastProgress < deadline ? $0.key : nil }
    }

    /// When the stream that has waited longest started waiting, if any stream is waiting.
    var oldestProgress: NIODeadline? { streams.values.map(\.lastProgress).min() }
}
