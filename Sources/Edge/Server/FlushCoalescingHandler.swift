import NIOCore

/// Sits between the socket and TLS and makes the flushes of one read burst, and those its
/// written bytes set off, one socket write each round.
///
/// The HTTP/2 handler flushes after each body slice so that NIOSSL seals it into its own 16 KiB
/// ciphertext buffer (NIOSSL keeps its buffer at the size of its largest flush, for the life of
/// the connection). Unchecked, each of a 70 KB part's five slices costs a socket write, and the
/// network stack a packet and a wake-up of the reader. Here the flushes made while the
/// connection handles what it read are held to the end of that, and the flushes made while a
/// write completes (each completed slice writes its stream's next) to the end of that write: a
/// part goes out in one or two vector writes. Only one connection's window of ciphertext is
/// waiting at a time, so the edge's memory does not grow with the connections served at once.
///
/// A close flushes first, so nothing written before it (a GOAWAY, TLS's close_notify) is lost.
///
/// Not thread-safe; one per connection, on its event loop.
final class FlushCoalescingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Flushes are being held: the connection is handling a read burst or a flush.
    private var holding = false
    private var flushHeld = false
    /// A bound on the rounds of one flush (a round is one window of slices per stream).
    private static let maximumRounds = 16

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !holding else { return context.fireChannelReadComplete() }
        holding = true
        context.fireChannelReadComplete()  // TLS decrypts, HTTP/2 answers, each answer flushes
        holding = false
        if flushHeld { flush(context: context) }
    }

    func flush(context: ChannelHandlerContext) {
        guard !holding else {
            flushHeld = true
            return
        }
        holding = true
        var rounds = 0
        repeat {
            flushHeld = false
            rounds += 1
            context.flush()  // completed writes may write and flush more: held for the next round
        } while flushHeld && rounds < Self.maximumRounds
        holding = false
        if flushHeld {
            flushHeld = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushHeld {
            flushHeld = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
