import Hummingbird
import Logging
import NIOCore

/// A real HTTP origin on loopback that trickles each file out in 64 KiB pieces with a pause
/// between them, so a fill lasts long enough to be interrupted.
struct SlowOrigin {
    let port: Int

    static func with<T: Sendable>(files: [String: [UInt8]], pause: Duration, _ body: (SlowOrigin) async throws -> T) async throws -> T {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let path = String(request.uri.path.dropFirst())
            guard let bytes = files[path] else { return Response(status: .notFound) }
            return Response(
                status: .ok, headers: [.contentLength: String(bytes.count), .contentType: "video/mp2t"],
                body: ResponseBody(contentLength: bytes.count) { writer in
                    var offset = 0
                    while offset < bytes.count {
                        let end = min(offset + 64 * 1024, bytes.count)
                        try await writer.write(ByteBuffer(bytes: bytes[offset..<end]))
                        offset = end
                        try await Task.sleep(for: pause)
                    }
                    try await writer.finish(nil)
                })
        }
        return try await LoopbackApp.with(router, label: "slow-origin") { port in try await body(SlowOrigin(port: port)) }
    }
}
