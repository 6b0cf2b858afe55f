import AsyncHTTPClient
import DePINProtocol
import EdgeCache
import NIOCore

/// Copies a title this edge was asked to host from the hosts that hold it (replication): the
/// manifest first, then every playlist and source segment not already here, each checked by
/// ``HostedStore`` before it is kept, each tried at every host in turn.
struct HostingCopier {
    let store: HostedStore
    let client: HTTPClient

    /// - Throws: what the last host said about the first file no host could give.
    func copy(_ content: String, from sources: Assignments.Sources) async throws {
        try await fetch(content, "manifest.json", from: sources)
        guard let manifest = store.manifest(content) else { throw OriginError.invalid("\(content)/manifest.json did not store") }
        for path in manifest.hostedFiles where !store.has(content, path) {
            try await fetch(content, path, from: sources)
        }
    }

    private func fetch(_ content: String, _ path: String, from sources: Assignments.Sources) async throws {
        let key = try CacheKey(content: content, path: path)
        var lastError: any Error = OriginError.notFound("\(content)/\(path)")
        for url in sources.urls {
            let origin = HTTPOrigin(base: url + "/v", client: client, authorization: sources.token.map { "Bearer " + $0 })
            var body = ByteBuffer()
            do {
                try await origin.fetch(key, from: 0, onHead: { _ in }, onChunk: { chunk in
                    var chunk = chunk
                    guard body.readableBytes + chunk.readableBytes <= 1 << 30 else { throw OriginError.invalid("\(content)/\(path) is over 1 GiB") }
                    body.writeBuffer(&chunk)
                })
                try store.put(content: content, path: path, body: body)
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }
}
