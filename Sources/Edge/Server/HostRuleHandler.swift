import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// RFC 9112 §3.2: an HTTP/1.1 request must carry exactly one `Host` field; one with none or
/// several gets 400 and the connection is closed (what follows it cannot be trusted to be a
/// request boundary either). Sits after Hummingbird's HTTP/1 codec, which has taken the first
/// `Host` as the request's authority and left any other among the fields.
/// One instance per connection; event-loop confined.
final class HostRuleHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
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
    static func violation(_ request: HTTPRequest) -> String? {
        if request.authority == nil { return "an HTTP/1.1 request needs a Host header" }
        if request.headerFields[.host] != nil { return "an HTTP/1.1 request must have one Host header, not several" }
        return nil
    }
}

extension HTTPField.Name {
    static var host: Self { HTTPField.Name("Host")! }
}
