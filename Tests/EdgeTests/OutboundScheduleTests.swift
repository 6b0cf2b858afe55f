import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import Edge

@Suite("Outbound schedule: body bytes paced by a per-connection budget")
struct OutboundScheduleTests {
    let now = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("a body is cut into slices of the same storage; a window of one slice keeps one in flight and streams take turns")
    func slicesAndTurns() {
        var schedule = OutboundSchedule(budget: 1 << 20, sliceSize: 4, streamWindow: 4)
        let body = ByteBuffer(bytes: Array(0..<10))
        schedule.enqueue(body, endStream: true, promise: nil, streamID: 1, now: now)
        schedule.enqueue(ByteBuffer(bytes: [9, 9]), endStream: true, promise: nil, streamID: 3, now: now)
        let first = schedule.next()
        #expect(first?.streamID == 1)
        #expect(first?.slice.buffer.readableBytes == 4)
        #expect(first?.slice.endStream == false)
        let second = schedule.next()
        #expect(second?.streamID == 3)
        #expect(second?.slice.endStream == true)
        #expect(schedule.next() == nil, "stream 1 has a slice in flight already")
        schedule.completed(streamID: 1, bytes: 4, now: now)
        schedule.completed(streamID: 3, bytes: 2, now: now)
        var rest: [UInt8] = Array(first!.slice.buffer.readableBytesView)
        while let (streamID, slice) = schedule.next() {
            #expect(streamID == 1)
            rest += slice.buffer.readableBytesView
            schedule.completed(streamID: streamID, bytes: slice.buffer.readableBytes, now: now)
        }
        #expect(rest == Array(0..<10))
        #expect(schedule.isEmpty)
        #expect(schedule.bytesInFlight == 0)
    }

    @Test("a stream sends slices until its window is full, taking turns a slice at a time; a completion reopens it")
    func windows() {
        var schedule = OutboundSchedule(budget: 1 << 20, sliceSize: 4, streamWindow: 8)
        schedule.enqueue(ByteBuffer(bytes: Array(0..<10)), endStream: true, promise: nil, streamID: 1, now: now)
        schedule.enqueue(ByteBuffer(bytes: Array(10..<20)), endStream: true, promise: nil, streamID: 3, now: now)
        var sent: [(HTTP2StreamID, [UInt8])] = []
        while let (streamID, slice) = schedule.next() { sent.append((streamID, Array(slice.buffer.readableBytesView))) }
        #expect(sent.map(\.0) == [1, 3, 1, 3])
        #expect(sent.map(\.1) == [[0, 1, 2, 3], [10, 11, 12, 13], [4, 5, 6, 7], [14, 15, 16, 17]])
        #expect(schedule.bytesInFlight == 16)
        schedule.completed(streamID: 3, bytes: 4, now: now)
        let last = schedule.next()
        #expect(last?.streamID == 3)
        #expect(last.map { Array($0.slice.buffer.readableBytesView) } == [18, 19])
        #expect(last?.slice.endStream == true)
        #expect(schedule.next() == nil, "stream 1's window is full")
        schedule.completed(streamID: 1, bytes: 4, now: now)
        #expect(schedule.next()?.slice.endStream == true)
        for (id, bytes) in [(1, 4), (1, 2), (3, 4), (3, 2)] as [(HTTP2StreamID, Int)] { schedule.completed(streamID: id, bytes: bytes, now: now) }
        #expect(schedule.isEmpty)
        #expect(schedule.bytesInFlight == 0)
    }

    @Test("nothing more starts while the budget is spent; a completion makes room")
    func budgetBounds() {
        var schedule = OutboundSchedule(budget: 8, sliceSize: 4, streamWindow: 4)
        for id in [1, 3, 5, 7] as [HTTP2StreamID] {
            schedule.enqueue(ByteBuffer(bytes: [1, 2, 3, 4]), endStream: true, promise: nil, streamID: id, now: now)
        }
        #expect(schedule.next()?.streamID == 1)
        #expect(schedule.next()?.streamID == 3)
        #expect(schedule.next() == nil)
        #expect(schedule.bytesInFlight == 8)
        schedule.completed(streamID: 1, bytes: 4, now: now)
        #expect(schedule.next()?.streamID == 5)
    }

    @Test("a stream that makes no progress is named as stalled; removing it returns its waiting promises")
    func stalledAndRemoved() throws {
        let loop = EmbeddedEventLoop()
        var schedule = OutboundSchedule(budget: 1 << 20, sliceSize: 4)
        let promise = loop.makePromise(of: Void.self)
        schedule.enqueue(ByteBuffer(bytes: Array(0..<8)), endStream: true, promise: promise, streamID: 1, now: now)
        schedule.enqueue(ByteBuffer(bytes: [1]), endStream: true, promise: nil, streamID: 3, now: now + .seconds(5))
        _ = schedule.next()
        #expect(schedule.stalled(olderThan: now + .seconds(2)) == [1])
        #expect(schedule.oldestProgress == now)
        let waiting = schedule.remove(1)
        #expect(waiting.count == 1)
        waiting.forEach { $0.fail(ChannelError.ioOnClosedChannel) }
        schedule.completed(streamID: 1, bytes: 4, now: now + .seconds(3))  // the slice in flight ends
        #expect(schedule.bytesInFlight == 0)
        #expect(schedule.stalled(olderThan: now + .seconds(10)) == [3])
        #expect(throws: ChannelError.self) { try promise.futureResult.wait() }
    }
}
