import NIOCore
import NIOEmbedded
import Testing

@testable import Edge

/// Counts the flushes that reach the socket (it sits right above the head).
private final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var flushes = 0
    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}

/// On a read burst's end, writes `count` buffers, flushing each, as the HTTP/2 handler does with
/// body slices; records what had reached the socket after each flush.
private final class BurstWriter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let count: Int
    var closeAfter = false
    var seenDuringBurst: [Int] = []
    init(count: Int) { self.count = count }
    func channelReadComplete(context: ChannelHandlerContext) {
        for i in 0..<count {
            context.write(wrapOutboundOut(ByteBuffer(bytes: [UInt8(i)])), promise: nil)
            context.flush()
            seenDuringBurst.append((context.channel as! EmbeddedChannel).outboundCount)
        }
        if closeAfter { context.close(promise: nil) }
    }
}

extension EmbeddedChannel {
    /// How many buffers have reached the socket so far (reading them takes them out: counted).
    fileprivate var outboundCount: Int {
        while (try? readOutbound(as: ByteBuffer.self)) != nil { taken += 1 }
        return taken
    }

    private var taken: Int {
        get { (try? pipeline.syncOperations.handler(type: Taken.self).count) ?? 0 }
        set { (try? pipeline.syncOperations.handler(type: Taken.self))?.count = newValue }
    }
}

/// Where ``EmbeddedChannel/outboundCount`` keeps its count: a handler that does nothing else.
private final class Taken: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var count = 0
}

@Suite("Flush coalescing below TLS")
struct FlushCoalescingTests {
    @Test("the flushes of one read burst reach the socket as one, after the burst")
    func burst() throws {
        let counter = FlushCounter()
        let writer = BurstWriter(count: 5)
        let channel = EmbeddedChannel(handlers: [counter, FlushCoalescingHandler(), writer, Taken()])
        try channel.writeInbound(ByteBuffer(bytes: [1]))  // a read and its burst's end
        #expect(writer.seenDuringBurst == [0, 0, 0, 0, 0], "nothing is written while the burst is handled")
        #expect(counter.flushes == 1)
        #expect(channel.outboundCount == 5)
        // Outside a burst a flush goes straight through.
        channel.write(ByteBuffer(bytes: [9]), promise: nil)
        channel.flush()
        #expect(counter.flushes == 2)
        #expect(channel.outboundCount == 6)
        _ = try channel.finish()
    }

    @Test("writes a completed write sets off go out in the next round of the same flush")
    func rounds() throws {
        let counter = FlushCounter()
        let channel = EmbeddedChannel(handlers: [counter, FlushCoalescingHandler(), Taken()])
        let first = channel.eventLoop.makePromise(of: Void.self)
        first.futureResult.whenSuccess {
            // As a completed slice writes its stream's next: two writes, two flushes.
            channel.write(ByteBuffer(bytes: [2]), promise: nil)
            channel.flush()
            channel.write(ByteBuffer(bytes: [3]), promise: nil)
            channel.flush()
        }
        channel.write(ByteBuffer(bytes: [1]), promise: first)
        channel.flush()
        #expect(counter.flushes == 2, "one for the first write, one for the two it set off")
        #expect(channel.outboundCount == 3)
        _ = try channel.finish()
    }

    @Test("a close made in a burst flushes what was written before it")
    func closeFlushes() throws {
        let writer = BurstWriter(count: 2)
        writer.closeAfter = true
        let channel = EmbeddedChannel(handlers: [FlushCoalescingHandler(), writer, Taken()])
        try channel.writeInbound(ByteBuffer(bytes: [1]))
        #expect(channel.outboundCount == 2)
        #expect(!channel.isActive)
    }
}
