import NIOCore
import NIOTLS

/// Closes a connection whose TLS handshake has not completed within the deadline: a client
/// that connects and says nothing (or trickles a ClientHello) holds a descriptor until then,
/// not for ever. Sits right after the TLS handler; removes itself once the handshake is done.
/// One instance per connection; event-loop confined.
package final class HandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = NIOAny

    private let deadline: TimeAmount
    private var timer: Scheduled<Void>?

    package init(deadline: TimeAmount) { self.deadline = deadline }

    package func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: deadline) { loopBound.value.close(promise: nil) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if case TLSUserEvent.handshakeCompleted = event {
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}
