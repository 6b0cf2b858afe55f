import Foundation
import Hummingbird
import Logging
import NIOCore

/// A real HTTP server on loopback serving a folder (read at request time), optionally pausing
/// before each response: an upstream for edges and a key server for ffmpeg.
struct FolderServer {
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    static func with<T: Sendable>(root: String, pause: Duration = .zero, _ body: (FolderServer) async throws -> T) async throws -> T {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let path = String(request.uri.path.dropFirst())
            guard !path.contains(".."), let data = FileManager.default.contents(atPath: root + "/" + path) else {
                return Response(status: .notFound)
            }
            if pause > .zero { try await Task.sleep(for: pause) }
            return Response(
                status: .ok, headers: [.contentLength: String(data.count)], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        return try await LoopbackApp.with(router, label: "folder-server") { port in try await body(FolderServer(port: port)) }
    }
}
