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
        var dataBytes = 0

        init(reset: EventLoopPromise<HTTP2ErrorCode>) { self.reset = reset }

        func channelActive(context: ChannelHandlerContext) {
            let headers: HPACKHeaders = [":method": "GET", ":scheme": "https", ":authority": "127.0.0.1", ":path": "/v/movie/720p/big.ts"]
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
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            tls.applicationProtocols = ["h2"]
            let sslContext = try NIOSSLContext(configuration: tls)
            let group = MultiThreadedEventLoopGroup.singleton
            let reset = group.next().makePromise(of: HTTP2ErrorCode.self)
            let recorder = Recorder(reset: reset)
            let channel = try await ClientBootstrap(group: group).channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                    // A 16-byte stream window that is never reopened.
                    try sync.addHandler(NIOHTTP2Handler(mode: .client, initialSettings: [HTTP2Setting(parameter: .initialWindowSize, value: 16)]))
                    try sync.addHandler(recorder)
                }
            }.connect(host: "127.0.0.1", port: edge.https).get()
            defer { channel.close(promise: nil) }
            let timeout = group.next().scheduleTask(in: .seconds(15)) { reset.fail(ChannelError.connectTimeout(.seconds(15))) }
            let code = try await reset.futureResult.get()
            timeout.cancel()
            #expect(code == .cancel)
            let received = try await channel.eventLoop.submit { recorder.dataBytes }.get()
            #expect(received <= 16)
        }
    }
}
