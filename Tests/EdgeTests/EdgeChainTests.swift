import Foundation
import NIOHTTP1
import TestSupport
import Testing

@testable import Edge

/// Edges filling from other edges over HTTP, as the network does when a hosting edge holds what a
/// delivery edge lacks.
@Suite("Edge to edge")
struct EdgeChainTests {
    @Test("an edge fills from another edge's /v, failing over past a dead upstream, and serves the same bytes")
    func fillsFromAnotherEdge() async throws {
        let segment = patternBytes(700_001)
        try await LiveEdge.with(prepare: { $0.write("show/hd/3.ts", segment) }) { hosting in
            let deadPort = DeadLoopbackPort()
            let dead = "http://127.0.0.1:\(deadPort.port)/v"
            try await LiveEdge.with(
                configure: { $0.upstreams = [dead, "\(hosting.httpBase)/v"] },
                prepare: { _ in }
            ) { delivery in
                let first = try await fetch(sharedClient, "\(delivery.httpsBase)/v/show/hd/3.ts")
                #expect(first.status == 200)
                #expect(byteMismatch(first.body, segment) == nil)
                // The hosting edge vouched for the bytes with Repr-Digest; the copy carries the same validators.
                let direct = try await fetch(sharedClient, "\(hosting.httpsBase)/v/show/hd/3.ts")
                let copy = try await fetch(sharedClient, "\(delivery.httpsBase)/v/show/hd/3.ts")
                #expect(byteMismatch(copy.body, segment) == nil)
                #expect(copy.headers["repr-digest"] == direct.headers["repr-digest"])
                #expect(copy.headers["etag"] == direct.headers["etag"])
                let missing = try await fetch(sharedClient, "\(delivery.httpsBase)/v/show/hd/404.ts")
                #expect(missing.status == 404)
            }
        }
    }
}
