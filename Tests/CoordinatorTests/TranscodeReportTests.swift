@testable import Coordinator
import AsyncHTTPClient
import DePINProtocol
import Foundation
import Logging
import TestSupport
import Testing

@Suite("Transcode reports: what an edge made, checked before it can earn")
struct TranscodeReportTests {
    @Test("reports are taken only for the node's transcoding task, the title's ladder and segments, a plausible size and a SHA-256; sampled ones wait for an audit, once each")
    func validation() async throws {
        let dir = TemporaryDirectory("transcode-reports")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        let (registry, edges) = try await TaskBoardTests.network([("paris", "pc", 48.86, 2.35), ("lyon", "pc", 45.76, 4.84)], store: store, clock: clock)
        let vault = await KeyVault(identity: NodeIdentity())
        let paris = edges["paris"]!.identity.id, lyon = edges["lyon"]!.identity.id
        let manifest = TaskBoardTests.manifest("movie")
        try await store.saveContent(ContentRecord(id: "movie", manifest: String(decoding: try JSONEncoder().encode(manifest), as: UTF8.self), sealedKey: "x", createdAt: 0))
        _ = try await store.addTask(TaskRecord(node: paris, content: "movie", kind: .transcoding, createdAt: clock.now()))
        let hash = String(repeating: "ab", count: 32)
        func made(_ rendition: String = "360p", segment: Int = 0, bytes: Int64 = 1000, sha256: String = hash, content: String = "movie") -> MadeRendition {
            MadeRendition(content: content, rendition: rendition, segment: segment, bytes: bytes, sha256: sha256)
        }

        for sample in [0.0, 1.0] {
            let auditor = TranscodeAuditor(
                store: store, registry: registry, vault: vault, client: HTTPClient.shared, sample: sample, logger: Logger(label: "test"))
            let answer = try await auditor.report(
                [
                    made(sample == 0 ? "360p" : "480p"), made("1080p"), made(segment: 7), made(bytes: 0), made(bytes: 1 << 40), made(sha256: "zz"),
                    made(content: "nope"), made(content: "../x"),
                ], from: paris)
            #expect(answer.accepted == 1)
            #expect(answer.refused.map(\.index) == [1, 2, 3, 4, 5, 6, 7])
            let reasons = answer.refused.map(\.reason)
            #expect(reasons[0].contains("no rendition '1080p'") && reasons[1].contains("no segment 7") && reasons[2].contains("not a plausible size"))
            #expect(reasons[3].contains("not a plausible size") && reasons[4].contains("64 hex digits") && reasons[5].contains("no content nope"))
            #expect(reasons[6].contains("content must be a content id"))
            // Lyon was given no transcoding task for the title.
            let stranger = try await auditor.report([made()], from: lyon)
            #expect(stranger.accepted == 0 && stranger.refused.first?.reason.contains("no transcoding task") == true)
        }
        // Not sampled: earns from the moment it was reported. Sampled: waits for its audit.
        #expect(try await store.transcodes(status: .unsampled, limit: 10).map(\.rendition) == ["360p"])
        #expect(try await store.transcodes(status: .sampled, limit: 10).map(\.rendition) == ["480p"])
        #expect(try await store.earningTranscodes(decidedFrom: 0, to: .max).map(\.rendition) == ["360p"])
        // Reported again (a resend after a lost answer): still one report.
        let auditor = TranscodeAuditor(store: store, registry: registry, vault: vault, client: HTTPClient.shared, sample: 0, logger: Logger(label: "test"))
        #expect(try await auditor.report([made()], from: paris).accepted == 1)
        #expect(try await store.earningTranscodes(decidedFrom: 0, to: .max).count == 1)
    }
}
