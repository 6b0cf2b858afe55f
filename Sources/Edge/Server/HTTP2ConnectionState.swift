import HTTPTypes
import NIOCore
import NIOHTTP2

/// The connection-level state of ``EdgeHTTP2Handler``: which streams are open, which have a task
/// producing their answer and which wait for one of the ``maxTasks`` slots, whether the
/// connection is going away, and how many streams this side reset lately.
///
/// Each event returns what the handler must do (the swift-nio-http2 style); nothing here touches
/// the channel, so every rule can be tested without one.
struct HTTP2ConnectionState {
    /// Answers produced in tasks at once on one connection; each may hold a file open.
    static let maxTasks = 16
    /// A client that makes the edge reset streams faster than this (a request with a body, a
    /// stalled reader) gets GOAWAY, as a client that resets them itself does from NIOHTTP2.
    static let resetBudget = (count: 200, window: TimeAmount.seconds(30))

    /// What to do with a request that arrived.
    enum Arrival: Equatable {
        /// Answer it.
        case serve
        /// Refuse the stream (`REFUSED_STREAM`): the connection is going away.
        case refuse
    }

    /// What to do once a stream no longer needs its task slot.
    struct Release {
        /// The task to cancel: it still runs though its stream is gone.
        var cancel: Task<Void, Never>?
        /// Waiting requests that now have a slot: start a task for each (``started(_:task:)``).
        var start: [(streamID: HTTP2StreamID, request: HTTPRequest)] = []
        /// Close the connection: it was going away and its last stream is done.
        var close = false
    }

    private(set) var lastStreamID = HTTP2StreamID.rootStream
    private(set) var goingAway = false
    /// Streams not yet closed (answered or not): a graceful shutdown waits for them.
    private var openStreams: Set<HTTP2StreamID> = []
    /// Streams holding a task slot, with their task once started.
    private var slots: [HTTP2StreamID: Task<Void, Never>?] = [:]
    /// Requests waiting for a slot, in arrival order.
    private var waiting = CircularBuffer<(streamID: HTTP2StreamID, request: HTTPRequest)>()
    /// Streams whose answer comes later without a task (a held blocking playlist reload).
    private var deferred: Set<HTTP2StreamID> = []
    private var resetsInWindow = 0
    private var resetWindowStart: NIODeadline

    init(now: NIODeadline = .now()) { resetWindowStart = now }

    /// Tasks running or about to start.
    var taskCount: Int { slots.count }

    /// A request's headers arrived on `streamID`.
    mutating func requestArrived(_ streamID: HTTP2StreamID) -> Arrival {
        guard !goingAway else { return .refuse }
        lastStreamID = max(lastStreamID, streamID)
        openStreams.insert(streamID)
        return .serve
    }

    /// A request needs a task: true when it has a slot now (start the task, then call
    /// ``started(_:task:)``); false when it waits for one.
    mutating func needsTask(_ streamID: HTTP2StreamID, request: HTTPRequest) -> Bool {
        guard slots.count < Self.maxTasks else {
            waiting.append((streamID, request))
            return false
        }
        slots[streamID] = .some(nil)
        return true
    }

    /// The answer to `streamID` comes later, without a task (``answerArrived(_:)``).
    mutating func answerDeferred(_ streamID: HTTP2StreamID) { deferred.insert(streamID) }

    /// A deferred answer came: true when its stream still waits for it (send it).
    mutating func answerArrived(_ streamID: HTTP2StreamID) -> Bool { deferred.remove(streamID) != nil }

    /// The task answering `streamID` started.
    mutating func started(_ streamID: HTTP2StreamID, task: Task<Void, Never>) {
        if slots[streamID] != nil { slots[streamID] = task }
    }

    /// The task answering `streamID` ended, or its stream is gone: its slot (or its place in
    /// the queue) goes to the requests waiting.
    mutating func taskEnded(_ streamID: HTTP2StreamID) -> Release {
        var release = Release()
        if let slot = slots.removeValue(forKey: streamID) {
            release.cancel = slot
        } else if let index = waiting.firstIndex(where: { $0.streamID == streamID }) {
            waiting.remove(at: index)
        }
        while slots.count < Self.maxTasks, let next = waiting.popFirst() {
            slots[next.streamID] = .some(nil)
            release.start.append(next)
        }
        return release
    }

    /// The stream closed (answered, or reset by either side).
    mutating func streamClosed(_ streamID: HTTP2StreamID) -> Release {
        var release = taskEnded(streamID)
        openStreams.remove(streamID)
        deferred.remove(streamID)
        release.close = goingAway && openStreams.isEmpty
        return release
    }

    /// This side reset `streamID` (its client stalled, or its task failed): the slot is freed
    /// without cancelling the task, whose writes now fail. False when the stream had no task.
    mutating func taskAbandoned(_ streamID: HTTP2StreamID) -> Bool {
        slots.removeValue(forKey: streamID) != nil
    }

    /// Graceful shutdown: nil when already going away; else the GOAWAY to send, and whether to
    /// close at once (no stream open).
    mutating func shutDown() -> (lastStreamID: HTTP2StreamID, closeNow: Bool)? {
        guard !goingAway else { return nil }
        goingAway = true
        return (lastStreamID, openStreams.isEmpty)
    }

    /// The idle timer fired: close when no answer is being produced or waiting to go out.
    func idleCloses(outboundEmpty: Bool) -> Bool { slots.isEmpty && deferred.isEmpty && outboundEmpty }

    /// This side reset a stream: true when that passes the reset budget (send GOAWAY
    /// `ENHANCE_YOUR_CALM` and close).
    mutating func countServerReset(now: NIODeadline) -> Bool {
        if now - resetWindowStart > Self.resetBudget.window {
            resetWindowStart = now
            resetsInWindow = 0
        }
        resetsInWindow += 1
        return resetsInWindow > Self.resetBudget.count
    }

    /// Streams this side reset in the current window.
    var recentResets: Int { resetsInWindow }

    /// The handler is going: every task to cancel; nothing waits any more.
    mutating func removeAll() -> [Task<Void, Never>] {
        let tasks = slots.values.compactMap { $0 }
        slots.removeAll()
        waiting.removeAll()
        deferred.removeAll()
        return tasks
    }
}
