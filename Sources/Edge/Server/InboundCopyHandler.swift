import NIOCore

/// Passes each inbound buffer on as a copy of just its readable bytes.
///
/// NIOSSL decrypts into one 32 KiB buffer per connection and hands slices of it up the pipeline;
/// NIOHTTP2's frame parser keeps the last slice it was given while it waits for more bytes, which
/// pins that 32 KiB storage and makes NIOSSL copy on its next write into a fresh 32 KiB one:
/// two per connection, 64 KiB of an idle connection's memory. Requests are a few hundred bytes,
/// so copying them costs less than that, and NIOSSL's buffer stays its own.
///
/// ## Performance characteristics
/// One allocation and copy of the bytes read per read.
final class InboundCopyHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        var copy = context.channel.allocator.buffer(capacity: bytes.readableBytes)
        copy.writeImmutableBuffer(bytes)
        context.fireChannelRead(wrapInboundOut(copy))
    }
}
