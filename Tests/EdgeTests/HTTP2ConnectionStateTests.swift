import HTTPTypes
import NIOCore
import NIOHTTP2
import Testing

@testable import Edge

@Suite("HTTP/2 connection state")
struct HTTP2ConnectionStateTests {
    let request = HTTPRequest(method: .get, scheme: "https", authority: "edge", path: "/v/movie/0.ts")

    @Test("past 16 tasks requests wait in order; each ended task hands its slot to the next, and a closed waiting stream leaves the queue")
    func taskSlots() {
        var state = HTTP2ConnectionState()
        let ids = (0..<20).map { HTTP2StreamID(2 * $0 + 1) }
        let arrivals = ids.map { state.requestArrived($0) }
        #expect(arrivals.allSatisfy { $0 == .serve })
        var started: [HTTP2StreamID] = []
        for id in ids where state.needsTask(id, request: request) { started.append(id) }
        #expect(started == Array(ids.prefix(16)) && state.taskCount == 16)
        // The 18th stream is closed by its client while waiting: it never starts.
        let closed = state.streamClosed(ids[17])
        #expect(closed.start.isEmpty)
        var handedOn: [[HTTP2StreamID]] = []
        for id in ids.prefix(4) {
            let release = state.taskEnded(id)
            #expect(!release.close)
            handedOn.append(release.start.map(\.streamID))
        }
        #expect(handedOn == [[ids[16]], [ids[18]], [ids[19]], []] && state.taskCount == 15)
    }

    @Test("after a graceful shutdown new streams are refused, and the connection closes when its last open stream does")
    func shutdown() throws {
        var state = HTTP2ConnectionState()
        let arrivals = [state.requestArrived(1), state.requestArrived(5)]
        #expect(arrivals == [.serve, .serve])
        let first = state.shutDown()
        let goAway = try #require(first)
        #expect(goAway.lastStreamID == 5 && !goAway.closeNow)
        let again = state.shutDown()
        #expect(again == nil, "GOAWAY is sent once")
        let late = state.requestArrived(7)
        #expect(late == .refuse)
        let closes = [state.streamClosed(1).close, state.streamClosed(5).close]
        #expect(closes == [false, true])

        var idle = HTTP2ConnectionState()
        let idleShutdown = idle.shutDown()
        #expect(idleShutdown?.closeNow == true)
    }

    @Test("the idle timer closes only a connection with no task and nothing waiting to go out")
    func idle() {
        var state = HTTP2ConnectionState()
        #expect(state.idleCloses(outboundEmpty: true))
        #expect(!state.idleCloses(outboundEmpty: false))
        _ = state.requestArrived(1)
        let slot = state.needsTask(1, request: request)
        #expect(slot && !state.idleCloses(outboundEmpty: true))
        let abandoned = [state.taskAbandoned(1), state.taskAbandoned(1)]
        #expect(abandoned == [true, false] && state.idleCloses(outboundEmpty: true))
    }

    @Test("200 streams reset by the edge within 30 s are allowed; the 201st ends the connection, and a new window starts afresh")
    func resetBudget() {
        let start = NIODeadline.now()
        var state = HTTP2ConnectionState(now: start)
        let within = (0..<200).map { _ in state.countServerReset(now: start + .seconds(1)) }
        let over = state.countServerReset(now: start + .seconds(2))
        #expect(!within.contains(true) && over)
        var later = HTTP2ConnectionState(now: start)
        for _ in 0..<200 { _ = later.countServerReset(now: start) }
        let afresh = later.countServerReset(now: start + .seconds(31))
        #expect(!afresh)
    }
}
