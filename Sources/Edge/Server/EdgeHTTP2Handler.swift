import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// Serves HTTP/2 requests at the frame level, on the connection's event loop.
///
/// Hummingbird's HTTP/2 path gives every stream its own child channel, async bridge and task;
/// for a 4 KiB playlist that bookkeeping costs more than the answer. This handler sits right
/// after `NIOHTTP2Handler` (no stream multiplexer) and answers a request for an object in the
/// memory hot set straight from `channelRead`, flushing once per read burst. Anything else
/// (a miss, a disk read, `/healthz`) runs ``EdgeResponder/respond(to:context:)`` in a task whose
/// body writes go back through the event loop, each awaited, so a slow reader holds back the
/// producer (HTTP/2 flow control does the rest).
///
/// A connection error (or a malformed request) closes the connection once NIOHTTP2 has written
/// its GOAWAY (or RST_STREAM). On graceful shutdown it sends GOAWAY and closes once the streams
/// in progress are done; an idle
/// connection (no streams, no traffic for the idle timeout) is closed, and a streamed response
/// whose client reads nothing for the idle timeout (its flow-control window stays shut) is reset.
///
/// Not thread-safe: every method runs on the channel's event loop; tasks reach it through
/// `NIOLoopBound`.
final class EdgeHTTP2Handler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let responder: EdgeResponder
    private let logger: Logger
    /// How long a streamed body write may wait for the client before the stream is reset.
    private let stallTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    /// Streams, task slots, shutdown and the reset budget.
    private var state = HTTP2ConnectionState()
    private var needsFlush = false
    private var dateSecond: Int = 0
    private var dateValue = ""
    /// Body bytes waiting to go out, paced by a per-connection byte budget.
    private var outbound = OutboundSchedule()
    private var stallCheck: Scheduled<Void>?
    /// Bytes of small answers written without tracking since the last read burst ended.
    private var untrackedInBurst = 0

    init(responder: EdgeResponder, logger: Logger, stallTimeout: TimeAmount) {
        self.responder = responder
        self.logger = logger
        self.stallTimeout = stallTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        for task in state.removeAll() { task.cancel() }
        stallCheck?.cancel()
        stallCheck = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let headers):
            guard state.requestArrived(frame.streamID) == .serve else {
                write(HTTP2Frame(streamID: frame.streamID, payload: .rstStream(.refusedStream)), context: context)
                return
            }
            receivedRequest(headers.headers, endStream: headers.endStream, streamID: frame.streamID, context: context)
        case .rstStream:
            endTask(frame.streamID)
        default:
            break  // request bodies are refused with 400; settings, pings and windows are NIOHTTP2's
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
        untrackedInBurst = 0
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent {
            let release = state.streamClosed(closed.streamID)
            for promise in outbound.remove(closed.streamID) { promise.fail(ChannelError.ioOnClosedChannel) }
            perform(release, context: context)
        } else if case ChannelEvent.inputClosed = event {
            // The client will send nothing more: answers could still go out, but the streams it
            // opened cannot be completed by it either; close rather than hold the descriptor.
            context.close(promise: nil)
        } else if event is IdleStateHandler.IdleStateEvent {
            // No traffic either way for the idle timeout, no body being produced and none
            // waiting to go out: the connection is idle. (Streams whose client stopped reading
            // are reset by the stall check first, so the client learns which ones failed.)
            if state.idleCloses(outboundEmpty: outbound.isEmpty) { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Closes the connection on any error NIOHTTP2 (or TLS below it) reports but one stream's
    /// own: a connection error it answered with GOAWAY, or a malformed request it reset. The
    /// peer is broken or hostile, so nothing more it sends is read or buffered. A write to a
    /// stream its client has reset (a wrapped `StreamError`) ends that stream alone.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOHTTP2Errors.StreamError { return }
        logger.debug("closing an HTTP/2 connection after \(error)")
        context.close(promise: nil)
    }

    /// Stops taking new streams (GOAWAY) and closes once the streams in progress are answered.
    func shutDownGracefully() {
        guard let context, let goAway = state.shutDown() else { return }
        write(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: goAway.lastStreamID, errorCode: .noError, opaqueData: nil)), context: context)
        flushIfNeeded(context: context)
        if goAway.closeNow { context.close(promise: nil) }
    }

    // MARK: - Requests

    private func receivedRequest(_ hpack: HPACKHeaders, endStream: Bool, streamID: HTTP2StreamID, context: ChannelHandlerContext) {
        let started = ContinuousClock.now
        guard let head = Self.request(from: hpack) else {
            let failure = HTTPFailure.badRequest("malformed HTTP/2 request head")
            send(failure.answer, streamID: streamID, resetAfter: !endStream, context: context)
            return
        }
        if let answer = responder.immediateAnswer(to: head, hasBody: !endStream) {
            send(answer, streamID: streamID, resetAfter: !endStream, context: context)
            responder.metrics.record(status: answer.status.code, bodyBytes: answer.bodyLength, started: started)
            return
        }
        if !endStream {
            let message =
                head.method == .put
                ? "uploads (PUT /hosting/...) go over HTTP/1.1; this edge takes no request bodies over HTTP/2"
                : "\(head.method) requests must not carry a body"
            send(HTTPFailure.badRequest(message).answer, streamID: streamID, resetAfter: true, context: context)
            return
        }
        // A viewer's live playlist (a held blocking reload) waits without a task; its answer comes back here.
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let deferred = responder.livePlaylistAnswer(to: head) { make in
            eventLoop.execute { loopBound.value.deliver(make, streamID: streamID, started: started) }
        }
        if deferred {
            state.answerDeferred(streamID)
            return
        }
        if state.needsTask(streamID, request: head) { startTask(streamID: streamID, head: head, context: context) }
    }

    /// A deferred answer is ready: made and sent if its stream still waits for it.
    private func deliver(_ make: () -> Answer, streamID: HTTP2StreamID, started: ContinuousClock.Instant) {
        guard let context, state.answerArrived(streamID) else { return }
        let answer = make()
        send(answer, streamID: streamID, resetAfter: false, context: context)
        responder.metrics.record(status: answer.status.code, bodyBytes: answer.bodyLength, started: started)
        flushIfNeeded(context: context)
    }

    /// Answers `head` in a task (a miss, a disk read, `/healthz`), whose body writes come back
    /// through the event loop, each awaited.
    private func startTask(streamID: HTTP2StreamID, head: HTTPRequest, context: ChannelHandlerContext) {
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let requestContext = BasicRequestContext(source: ApplicationRequestContextSource(channel: context.channel, logger: logger))
        let responder = self.responder
        let task = Task {
            defer { eventLoop.execute { loopBound.value.endTask(streamID) } }
            let response: Response
            do {
                response = try await responder.respond(to: request, context: requestContext)
            } catch {
                response = Response(status: .internalServerError)
            }
            let isHead = request.method == .head || response.status == .notModified
            // A body of known length follows at once: its first write flushes the head with it.
            let length = isHead ? nil : response.body.contentLength
            eventLoop.execute {
                loopBound.value.sendHead(status: response.status, headers: response.headers, endStream: isHead, streamID: streamID, flush: length == nil)
            }
            guard !isHead else { return }
            do {
                try await response.body.write(StreamBodyWriter(handler: loopBound, eventLoop: eventLoop, streamID: streamID, remaining: length))
            } catch {
                eventLoop.execute { loopBound.value.resetStream(streamID) }
            }
        }
        state.started(streamID, task: task)
    }

    /// The task answering `streamID` is done, or its stream is gone: cancel it if it still runs,
    /// and give its slot to the next deferred request.
    private func endTask(_ streamID: HTTP2StreamID) {
        guard let context else { return }
        perform(state.taskEnded(streamID), context: context)
    }

    private func perform(_ release: HTTP2ConnectionState.Release, context: ChannelHandlerContext) {
        release.cancel?.cancel()
        for next in release.start { startTask(streamID: next.streamID, head: next.request, context: context) }
        if release.close { context.close(promise: nil) }
    }

    private func send(_ answer: Answer, streamID: HTTP2StreamID, resetAfter: Bool, context: ChannelHandlerContext) {
        let head = answer.encodedHead ?? HPACKHeaders(status: answer.status, answer.headers)
        // With `resetAfter` (a refusal of a request whose body is still coming), the reset goes
        // out once the answer's last frame has left NIOHTTP2: a stream's frames still held there
        // (waiting for a flush, or for a flow-control window) are dropped when it is reset, and
        // curl then saw a 400 without the sentence that says why. RFC 9113 8.1: a client keeps
        // a complete response it got before RST_STREAM(NO_ERROR).
        var sent: EventLoopPromise<Void>?
        if resetAfter {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in loopBound.value.reset(afterAnswering: streamID) }
            sent = promise
        }
        switch answer.body {
        case .none:
            write(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: head, endStream: true))), promise: sent, context: context)
        case .buffers(var buffers):
            writeHead(head, endStream: false, streamID: streamID, context: context)
            if buffers.isEmpty { buffers = [ByteBuffer()] }
            // A refusal of a request with a body (small, and the reset must follow its end), or
            // a small answer (a playlist, a key) with nothing queued ahead of it, goes out at
            // once, untracked: at most a budget's worth in one read burst, and only while the
            // socket keeps up. Anything else is paced by the connection's budget.
            let direct = resetAfter || takesUntrackedAllowance(buffers, context: context)
            let now = NIODeadline.now()
            for (i, buffer) in buffers.enumerated() {
                let last = i == buffers.count - 1
                if direct {
                    let frame = HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(buffer), endStream: last)))
                    write(frame, promise: last ? sent : nil, context: context)
                } else {
                    outbound.enqueue(buffer, endStream: last, promise: nil, streamID: streamID, now: now)
                }
            }
            if !direct { writeOutbound(context: context) }
        case .stream:
            preconditionFailure("EdgeHTTP2Handler: an immediate answer never streams")
        }
        if resetAfter { flushIfNeeded(context: context) }
    }

    /// The refusal sent on `streamID` has left NIOHTTP2: reset the stream (its request body is
    /// not wanted) and count the reset.
    private func reset(afterAnswering streamID: HTTP2StreamID) {
        guard let context else { return }
        write(HTTP2Frame(streamID: streamID, payload: .rstStream(.noError)), context: context)
        countServerReset(context: context)
        flushIfNeeded(context: context)
    }

    /// True (and the burst's allowance spent) when `buffers` is one small body that may go out
    /// untracked now.
    private func takesUntrackedAllowance(_ buffers: [ByteBuffer], context: ChannelHandlerContext) -> Bool {
        guard buffers.count == 1, outbound.isEmpty, context.channel.isWritable else { return false }
        let bytes = buffers[0].readableBytes
        guard bytes <= outbound.sliceSize, untrackedInBurst + bytes <= outbound.budget else { return false }
        untrackedInBurst += bytes
        return true
    }

    /// Counts a stream this side reset; past the budget, the connection goes (GOAWAY
    /// ENHANCE_YOUR_CALM, then closed).
    private func countServerReset(context: ChannelHandlerContext) {
        guard state.countServerReset(now: .now()) else { return }
        let budget = HTTP2ConnectionState.resetBudget
        logger.notice("closing an HTTP/2 connection: \(state.recentResets) streams reset by the edge within \(budget.window)")
        write(
            HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: state.lastStreamID, errorCode: .enhanceYourCalm, opaqueData: nil)),
            context: context)
        flushIfNeeded(context: context)
        context.close(promise: nil)
    }

    // MARK: - Writing (event loop only)

    fileprivate func sendHead(status: HTTPResponse.Status, headers: HTTPFields, endStream: Bool, streamID: HTTP2StreamID, flush: Bool) {
        guard let context else { return }
        writeHead(HPACKHeaders(status: status, headers), endStream: endStream, streamID: streamID, context: context)
        if flush || endStream { flushIfNeeded(context: context) }
    }

    func sendData(_ buffer: ByteBuffer, endStream: Bool, streamID: HTTP2StreamID, promise: EventLoopPromise<Void>) {
        guard let context else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return
        }
        outbound.enqueue(buffer, endStream: endStream, promise: promise, streamID: streamID, now: .now())
        writeOutbound(context: context)
        flushIfNeeded(context: context)
    }

    /// Writes queued body slices while the connection's budget and socket allow, each with a
    /// promise that returns its bytes to the budget and writes on. Each is flushed on its own so
    /// TLS seals it into a slice-sized buffer; ``FlushCoalescingHandler`` below TLS makes the
    /// flushes of one read burst, or of one write's completions, one socket write.
    private func writeOutbound(context: ChannelHandlerContext) {
        guard context.channel.isWritable else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        while let (streamID, slice) = outbound.next() {
            let bytes = slice.buffer.readableBytes
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { result in
                loopBound.value.sliceWritten(streamID: streamID, bytes: bytes, result: result, promise: slice.promise)
            }
            write(HTTP2Frame(streamID: streamID, payload: .data(.init(data: .byteBuffer(slice.buffer), endStream: slice.endStream))), promise: written, context: context)
            flushIfNeeded(context: context)
        }
        scheduleStallCheck(context: context)
    }

    private func sliceWritten(streamID: HTTP2StreamID, bytes: Int, result: Result<Void, any Error>, promise: EventLoopPromise<Void>?) {
        outbound.completed(streamID: streamID, bytes: bytes, now: .now())
        promise?.completeWith(result)
        guard let context else { return }
        writeOutbound(context: context)
        flushIfNeeded(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writeOutbound(context: context)
        flushIfNeeded(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// Arms one timer for the stream that has waited longest, if none is armed.
    private func scheduleStallCheck(context: ChannelHandlerContext) {
        guard stallCheck == nil, let oldest = outbound.oldestProgress else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        stallCheck = context.eventLoop.scheduleTask(deadline: oldest + stallTimeout) {
            let handler = loopBound.value
            handler.stallCheck = nil
            handler.resetStalled()
        }
    }

    /// Resets every stream whose client has read nothing of it for the stall timeout, whether
    /// its body comes from memory or disk; that fails its pending writes and ends any task
    /// producing it.
    private func resetStalled() {
        guard let context else { return }
        for streamID in outbound.stalled(olderThan: .now() - stallTimeout) {
            logger.notice("resetting HTTP/2 stream \(streamID): the client read nothing for \(stallTimeout)")
            _ = state.taskAbandoned(streamID)
            for promise in outbound.remove(streamID) { promise.fail(ChannelError.ioOnClosedChannel) }
            write(HTTP2Frame(streamID: streamID, payload: .rstStream(.cancel)), context: context)
            countServerReset(context: context)
        }
        flushIfNeeded(context: context)
        scheduleStallCheck(context: context)
    }

    fileprivate func resetStream(_ streamID: HTTP2StreamID) {
        guard let context, state.taskAbandoned(streamID) else { return }
        for promise in outbound.remove(streamID) { promise.fail(ChannelError.ioOnClosedChannel) }
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: streamID, payload: .rstStream(.internalError))), promise: nil)
    }

    private func writeHead(_ head: HPACKHeaders, endStream: Bool, streamID: HTTP2StreamID, context: ChannelHandlerContext) {
        var hpack = head
        hpack.add(name: "date", value: currentDate())
        hpack.add(name: "server", value: "depin-edge")
        write(HTTP2Frame(streamID: streamID, payload: .headers(.init(headers: hpack, endStream: endStream))), context: context)
    }

    private func write(_ frame: HTTP2Frame, promise: EventLoopPromise<Void>? = nil, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(frame), promise: promise)
        needsFlush = true
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
    }

    private func currentDate() -> String {
        let now = Int(time(nil))
        if now != dateSecond {
            dateSecond = now
            dateValue = HTTPDate.format(Int64(now))
        }
        return dateValue
    }
}
