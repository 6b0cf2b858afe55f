import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// RFC 9112 §3.2: an HTTP/1.1 request must carry exactly one `Host` field; one with none or
/// several gets 400 and the connection is closed (what follows it cannot be trusted to be a
/// request boundary either). Sits after Hummingbird's HTTP/1 codec, which has taken the first
/// `Host` as the request's authority and left any other among the fields. On an HTTP/2 stream
/// (`:authority` is optional there) it passes everything through.
/// One instance per connection; event-loop confined.
package final class HostRuleHandler: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart
    package typealias OutboundIn = HTTPResponsePart
    package typealias OutboundOut = HTTPResponsePart

    private var refused = false
    private var isHTTP2Stream = false

    package init() {}

    package func handlerAdded(context: ChannelHandlerContext) {
        // An accepted connection's parent is its listener; an HTTP/2 stream's is its connection.
        // (Asking a socket channel for an HTTP/2 stream option is a fatal error in NIO.)
        isHTTP2Stream = context.channel.parent?.parent != nil
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if isHTTP2Stream { return context.fireChannelRead(data) }
        if refused { return }
        let part = unwrapInboundIn(data)
        if case .head(let request) = part, let reason = Self.violation(request) {
            refused = true
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            headers[.connection] = "close"
            let body = ByteBuffer(string: reason + "\n")
            headers[.contentLength] = String(body.readableBytes)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: .badRequest, headerFields: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
    }

    /// Why `request` breaks the Host rule, or nil.
    package static func violation(_ request: HTTPRequest) -> String? {
        if request.authority == nil { return "an HTTP/1.1 request needs a Host header" }
        if request.headerFields[.host] != nil { return "an HTTP/1.1 request must have one Host header, not several" }
        return nil
    }
}

extension HTTPField.Name {
    package static var host: Self { HTTPField.Name("Host")! }
}
