import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS
import ServiceLifecycle

/// The HTTPS listener's connections: TLS, then ALPN picks HTTP/2 (answered by
/// ``EdgeHTTP2Handler`` at the frame level) or HTTP/1.1 (Hummingbird's `HTTP1Channel`).
struct EdgeSecureChannel: ServerChildChannel {
    enum Negotiated: Sendable {
        case http1(HTTP1Channel.Value)
        case http2(any Channel)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let sslContext: NIOSSLContext
    let http1: HTTP1Channel
    let responder: EdgeResponder
    let idleTimeout: TimeAmount

    /// HTTP/2 settings the edge announces: 100 concurrent streams, 1 MiB stream windows.
    static let settings: HTTP2Settings = [
        HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
        HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
        HTTP2Setting(parameter: .maxHeaderListSize, value: 16 * 1024),
    ]

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let negotiation: EventLoopFuture<Negotiated>
        do {
            try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
            let alpn = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result in
                switch result {
                case .negotiated("h2"):
                    return channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(InboundCopyHandler())
                        // RFC 9113 §8.2: malformed requests (pseudo-headers out of place or twice,
                        // upper-case names, connection-specific fields, a content-length the
                        // DATA frames do not match) are reset by NIOHTTP2 before they are seen.
                        try sync.addHandler(
                            NIOHTTP2Handler(mode: .server, initialSettings: Self.settings, headerBlockValidation: .enabled, contentLengthValidation: .enabled))
                        try sync.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                        try sync.addHandler(EdgeHTTP2Handler(responder: responder, logger: logger, stallTimeout: idleTimeout))
                        return .http2(channel)
                    }
                case .negotiated("http/1.1"), .fallback:
                    return http1.setup(channel: channel, logger: logger).map { .http1($0) }
                case .negotiated:
                    return channel.close().flatMapThrowing { throw NIOHTTP2Errors.invalidALPNToken() }
                }
            }
            try channel.pipeline.syncOperations.addHandler(alpn)
            negotiation = alpn.protocolNegotiationResult
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return channel.eventLoop.makeSucceededFuture(Value(negotiated: negotiation, channel: channel))
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1(let http1Value):
                await http1.handle(value: http1Value, logger: logger)
            case .http2(let channel):
                try await withGracefulShutdownHandler {
                    try await withTaskCancellationHandler {
                        try await channel.closeFuture.get()
                    } onCancel: {
                        channel.close(promise: nil)
                    }
                } onGracefulShutdown: {
                    channel.eventLoop.execute {
                        if let handler = try? channel.pipeline.syncOperations.handler(type: EdgeHTTP2Handler.self) {
                            handler.shutDownGracefully()
                        }
                    }
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }
}
