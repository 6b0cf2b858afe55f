import AsyncHTTPClient
import EdgeCache
import NIOCore

/// Fills a title from the edges the coordinator says host it (``Assignments``), nearest first,
/// presenting the coordinator's fill token. A host that fails before sending anything is
/// followed by the next; one that fails mid-object ends the attempt, and the cache resumes
/// from the next origin at the byte where it stopped.
struct HostOrigin: Origin {
    let assignments: Assignments
    let client: HTTPClient

    var description: String { "hosting edges" }

    /// One host dying mid-part says nothing of the others, which this origin fails over to.
    var isMarkedDownOnFailure: Bool { false }

    func fetch(
        _ key: CacheKey, from offset: Int, onHead: (OriginHead) async throws -> Void, onChunk: (ByteBuffer) async throws -> Void
    ) async throws {
        guard let sources = await assignments.sources(refreshingFor: key.content), !sources.urls.isEmpty else {
            throw OriginError.notFound("no hosting edge known for \(key.content)")
        }
        var failures: [String] = []
        for url in sources.urls {
            let origin = HTTPOrigin(base: url + "/v", client: client, authorization: sources.token.map { "Bearer " + $0 })
            var started = false
            do {
                try await origin.fetch(key, from: offset, onHead: { head in
                    started = true
                    try await onHead(head)
                }, onChunk: onChunk)
                return
            } catch {
                if started { throw error }
                failures.append("\(error)")
            }
        }
        throw OriginError.unavailable("every hosting edge of \(key.content) failed: \(failures.joined(separator: "; "))")
    }
}
