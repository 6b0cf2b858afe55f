import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import TestSupport
import Testing

@testable import Edge

/// An HTTP/2 client that asks for an object and never opens its flow-control window: the edge
/// can send it 16 bytes, then must give up on the stream.
@Suite("Slow HTTP/2 readers")
struct StalledReaderTests {
    final class Recorder: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked Sendable: touched only on the channel's event loop, read after it closes.
        typealias InboundIn = HTTP2Frame
        typealias OutboundOut = HTTP2Frame
        let reset: EventLoopPromise<HTTP2ErrorCode>
        let path: String
        var dataBytes = 0

        init(reset: EventLoopPromise<HTTP2ErrorCode>, path: String) {
            self.reset = reset
            self.path = path
        }

        func channelActive(context: ChannelHandlerContext) {
            let headers: HPACKHeaders = [":method": "GET", ":scheme": "https", ":authority": "127.0.0.1", ":path": path]
            context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: 1, payload: .headers(.init(headers: headers, endStream: true)))), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            switch frame.payload {
            case .data(let payload): dataBytes += payload.data.readableBytes
            case .rstStream(let code): reset.succeed(code)
            default: break
            }
        }
    }

    @Test("a streamed response the client never reads is reset after the idle timeout")
    func stalledStreamIsReset() async throws {
        try await LiveEdge.with(configure: { $0.idleTimeout = 1 }, prepare: { $0.write("movie/720p/big.ts", patternBytes(3_000_000)) }) { edge in
            let (code, received) = try await readNothing(of: "/v/movie/720p/big.ts", from: edge)
            #expect(code == .cancel)
            #expect(received <= 16)
        }
    }

    @Test("an answer from the memory hot set the client never reads is reset too")
    func stalledHotAnswerIsReset() async throws {
        try await LiveEdge.with(configure: { $0.idleTimeout = 1 }, prepare: { $0.write("movie/720p/hot.ts", patternBytes(600_000)) }) { edge in
            // Fill, read from disk, read again: the third read is answered from memory.
            for _ in 0..<3 {
                let fetched = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(edge.http)/v/movie/720p/hot.ts"])
                #expect(fetched.output == "200")
            }
            let (code, received) = try await readNothing(of: "/v/movie/720p/hot.ts", from: edge)
            #expect(code == .cancel)
            #expect(received <= 16)
        }
    }

    /// Asks for `path` over HTTP/2 with a 16-byte stream window that is never reopened; returns
    /// how the edge reset the stream and how many body bytes came first.
    private func readNothing(of path: String, from edge: LiveEdge) async throws -> (HTTP2ErrorCode, Int) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        tls.applicationProtocols = ["h2"]
        let sslContext = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup.singleton
        let reset = group.next().makePromise(of: HTTP2ErrorCode.self)
        let recorder = Recorder(reset: reset, path: path)
        let channel = try await ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                try sync.addHandler(NIOHTTP2Handler(mode: .client, initialSettings: [HTTP2Setting(parameter: .initialWindowSize, value: 16)]))
                try sync.addHandler(recorder)
            }
        }.connect(host: "127.0.0.1", port: edge.https).get()
        defer { channel.close(promise: nil) }
        let timeout = group.next().scheduleTask(in: .seconds(15)) { reset.fail(ChannelError.connectTimeout(.seconds(15))) }
        let code = try await reset.futureResult.get()
        timeout.cancel()
        let received = try await channel.eventLoop.submit { recorder.dataBytes }.get()
        return (code, received)
    }
}

@Suite("Slow HTTP/1.1 readers")
struct StalledHTTP1ReaderTests {
    @Test("a client that stops reading a response is disconnected after the idle timeout")
    func stalledConnectionIsClosed() async throws {
        try await LiveEdge.with(configure: { $0.idleTimeout = 1 }, prepare: { $0.write("movie/720p/huge.ts", patternBytes(24_000_000)) }) { edge in
            // Cached first, so the stalled response comes from disk as fast as the socket takes
            // it: filling 24 MB (fsynced) on a machine busy with other suites once took longer
            // than the stall, and the whole body got through after it.
            let warmed = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(edge.http)/v/movie/720p/huge.ts"])
            #expect(warmed.output == "200")
            let closed = try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result { try stallThenDrain(port: edge.http, path: "/v/movie/720p/huge.ts") })
                }
            }
            #expect(closed.closed, "the edge kept a stalled connection open")
            #expect(closed.received < 24_000_000, "the whole body got through; the stall was never reached")
        }
    }
}

/// Sends a GET with a tiny receive buffer, reads nothing for 7 s (the edge's 1 s stall limit with
/// room for a machine busy with other tests), then drains: reports whether the
/// server had closed the connection (EOF or reset within 10 s of draining) and how much arrived.
func stallThenDrain(port: Int, path: String) throws -> (closed: Bool, received: Int) {
    guard let fd = connectLoopback(port: port, receiveBuffer: 4096) else { return (false, 0) }
    defer { close(fd) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    sleep(7)
    setReceiveTimeout(fd, seconds: 10)
    var buffer = [UInt8](repeating: 0, count: 65536)
    var received = 0
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            received += n
            continue
        }
        if n == 0 || errno == ECONNRESET { return (true, received) }
        return (false, received)  // timed out: still open
    }
}
