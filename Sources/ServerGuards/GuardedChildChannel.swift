import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// A listener's connections with the guards every listener needs around them: a place in the
/// process's ``ConnectionBudget`` (a connection past it is closed at once, before any byte is
/// read) and, on a TLS listener, a deadline for the handshake (``HandshakeDeadlineHandler``
/// right after the TLS handler that `Inner` installs).
package struct GuardedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    package typealias Value = Inner.Value

    let inner: Inner
    let budget: ConnectionBudget
    let handshakeDeadline: TimeAmount?

    /// - Parameters:
    ///   - handshakeDeadline: how long a TLS handshake may take; nil for a plaintext listener
    ///     (or one that sets its own deadline).
    package init(_ inner: Inner, budget: ConnectionBudget, handshakeDeadline: TimeAmount? = nil) {
        self.inner = inner
        self.budget = budget
        self.handshakeDeadline = handshakeDeadline
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard budget.admit() else {
            if budget.shouldReportRefusal() {
                logger.warning("refusing connections: \(budget.limit) are open, the most this process's descriptors allow")
            }
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionRefused(limit: budget.limit))
        }
        let budget = self.budget
        channel.closeFuture.whenComplete { _ in budget.release() }
        let value = inner.setup(channel: channel, logger: logger)
        if let handshakeDeadline {
            do {
                let sync = channel.pipeline.syncOperations
                let tls = try sync.handler(type: NIOSSLServerHandler.self)
                try sync.addHandler(HandshakeDeadlineHandler(deadline: handshakeDeadline), position: .after(tls))
            } catch {
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        return value
    }

    package func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// A connection closed because the process's ``ConnectionBudget`` was spent.
package struct ConnectionRefused: Error, CustomStringConvertible {
    package let limit: Int
    package var description: String { "connection refused: \(limit) connections are open, the most allowed" }
}

extension GuardedChildChannel: HTTPChannelHandler where Inner: HTTPChannelHandler {
    package var responder: HTTPChannelHandler.Responder { inner.responder }
}
