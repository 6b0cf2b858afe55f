import DePINProtocol
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Coordinator

@Suite("Catalog: each title decoded once, errors said")
struct CatalogTests {
    static func manifest(_ id: String) -> ContentManifest {
        var manifest = TaskBoardTests.manifest(id, ladder: ["360p"])
        manifest.segments[0].length = 1000
        return manifest
    }

    @Test("a title is read from the store once; an unknown id is asked again only after a while or when rechecked; a corrupt manifest is an error, not a missing title")
    func decodedOnceAndErrorsSaid() async throws {
        let dir = TemporaryDirectory("catalog")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = Mutex<Int64>(1_000)
        let catalog = Catalog(store: store, now: { clock.withLock { $0 } })
        #expect(try await catalog.title("film") == nil)
        let film = Self.manifest("film")
        try await store.saveContent(ContentRecord(id: "film", manifest: String(decoding: try JSONEncoder().encode(film), as: UTF8.self), sealedKey: "k", createdAt: 1))
        #expect(try await catalog.title("film") == nil, "an unknown id is answered from memory for a while")
        #expect(try await catalog.title("film", recheck: true)?.bytes == 1000)
        #expect(try await catalog.title("film")?.renditions == ["360p"])
        try await store.saveContent(ContentRecord(id: "broken", manifest: "{not json", sealedKey: "k", createdAt: 1))
        await #expect { try await catalog.title("broken") } throws: { ($0 as? StoreFailure)?.code == .corrupt }
        clock.withLock { $0 += Catalog.unknownSeconds }
        let late = Self.manifest("late")
        try await store.saveContent(ContentRecord(id: "late", manifest: String(decoding: try JSONEncoder().encode(late), as: UTF8.self), sealedKey: "k", createdAt: 1))
        #expect(try await catalog.title("late")?.bitrate ?? 0 >= 1)
        try await store.close()
    }
}
