import Hummingbird
import HTTPTypes
import NIOCore
import NIOHPACK
import NIOHTTP2

// What crosses between NIOHTTP2's frames and Hummingbird's types for ``EdgeHTTP2Handler``: a
// request head read from a HEADERS frame, and a task's response body written back as DATA frames.

extension EdgeHTTP2Handler {
    /// The request head, or nil if a pseudo-header is missing or a field is invalid.
    static func request(from hpack: HPACKHeaders) -> HTTPRequest? {
        var method: HTTPRequest.Method?
        var scheme: String?
        var authority: String?
        var path: String?
        var fields = HTTPFields()
        for (name, value, _) in hpack {
            switch name {
            case ":method": method = HTTPRequest.Method(value)
            case ":scheme": scheme = value
            case ":authority": authority = value
            case ":path": path = value
            default:
                guard !name.hasPrefix(":"), let fieldName = HTTPField.Name(name) else { return nil }
                fields.append(HTTPField(name: fieldName, value: value))
            }
        }
        guard let method, let path, !path.isEmpty else { return nil }
        return HTTPRequest(method: method, scheme: scheme, authority: authority, path: path, headerFields: fields)
    }
}

/// Writes a streamed response body as DATA frames through the connection's event loop, waiting
/// for each write, so the producer runs no further ahead than the client reads. A body of known
/// length ends its stream with its last bytes (no empty DATA frame, one flush less).
struct StreamBodyWriter: ResponseBodyWriter {
    let handler: NIOLoopBound<EdgeHTTP2Handler>
    let eventLoop: any EventLoop
    let streamID: HTTP2StreamID
    /// Bytes still to come of a body of known length.
    var remaining: Int?
    private var ended = false

    init(handler: NIOLoopBound<EdgeHTTP2Handler>, eventLoop: any EventLoop, streamID: HTTP2StreamID, remaining: Int?) {
        self.handler = handler
        self.eventLoop = eventLoop
        self.streamID = streamID
        self.remaining = remaining
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        let promise = eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        let streamID = self.streamID
        remaining = remaining.map { $0 - buffer.readableBytes }
        let last = remaining.map { $0 <= 0 } ?? false
        ended = last
        eventLoop.execute { handler.value.sendData(buffer, endStream: last, streamID: streamID, promise: promise) }
        try await promise.futureResult.get()
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        if ended { return }  // with its last bytes
        let promise = eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        let streamID = self.streamID
        eventLoop.execute { handler.value.sendData(ByteBuffer(), endStream: true, streamID: streamID, promise: promise) }
        try await promise.futureResult.get()
    }
}

extension Answer {
    /// Bytes in the body, when known without producing it.
    var bodyLength: Int {
        switch body {
        case .none: 0
        case .buffers(let buffers): buffers.reduce(0) { $0 + $1.readableBytes }
        case .stream(let body): body.contentLength ?? 0
        }
    }
}
