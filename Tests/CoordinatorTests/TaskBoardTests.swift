@testable import Coordinator
import DePINProtocol
import Foundation
import TestSupport
import Testing

@Suite("Hosting placement: replication from demand, spread across regions")
struct HostingPolicyTests {
    static func candidate(_ id: String, _ lat: Double, _ lon: Double, capacity: Double = 10) -> HostingPolicy.Candidate {
        .init(id: id, location: GeoPoint(latitude: lat, longitude: lon), capacity: capacity)
    }

    @Test("the replication factor starts at the base and grows by one per doubling of demand, up to the cap")
    func target() {
        let policy = HostingPolicy(replicas: 2, maxReplicas: 5, lookupsPerReplica: 100)
        #expect([0, 99, 100, 299, 300, 700, 1_000_000].map(policy.target) == [2, 2, 3, 3, 4, 5, 5])
    }

    @Test("hosts are spread: after the first, each is the candidate farthest from the hosts so far")
    func spread() {
        let policy = HostingPolicy()
        let europe = (0..<6).map { Self.candidate("eu-\($0)", 48 + Double($0) / 10, 2 + Double($0) / 10, capacity: 100) }
        let far = [Self.candidate("tokyo", 35.68, 139.69, capacity: 1), Self.candidate("nyc", 40.7, -74, capacity: 1)]
        for title in (0..<50).map({ "title-\($0)" }) {
            let chosen = policy.choose(3, content: title, from: europe + far)
            #expect(chosen.count == 3)
            // Two of three hosts are on other continents, whichever European edge comes first.
            #expect(chosen.filter { $0.id.hasPrefix("eu-") }.count == 1, "\(title): \(chosen.map(\.id))")
            #expect(Set(chosen.map(\.id)).count == 3)
        }
        // Existing hosts count: a repair in Europe's stead goes far away.
        let repair = policy.choose(1, content: "t", from: europe + far, existing: [GeoPoint(latitude: 35.6, longitude: 139.7)])
        #expect(repair.first?.id != "tokyo")
    }

    @Test("placement is deterministic and spreads titles over same-region edges by capacity")
    func capacityShare() {
        let policy = HostingPolicy()
        let edges = [Self.candidate("big", 48.8, 2.3, capacity: 30), Self.candidate("small", 48.9, 2.4, capacity: 10)]
        var wins = ["big": 0, "small": 0]
        for title in (0..<4000).map({ "t\($0)" }) {
            let first = policy.choose(1, content: title, from: edges)
            #expect(first == policy.choose(1, content: title, from: edges))
            wins[first[0].id, default: 0] += 1
        }
        let share = Double(wins["big"]!) / 4000
        #expect(abs(share - 0.75) < 0.03, "big won \(share) of titles; capacity says 0.75")
        #expect(policy.choose(5, content: "t", from: edges).count == 2)
        #expect(policy.choose(2, content: "t", from: []).isEmpty)
    }
}

@Suite("Task board: hosting, delivery and transcoding tasks over a real store")
struct TaskBoardTests {
    static func manifest(_ id: String, ladder: [String] = ["480p", "360p"]) -> ContentManifest {
        ContentManifest(
            id: id, createdAt: 0, segmentSeconds: 4,
            source: .init(width: 1280, height: 720, frameRate: 30, codecs: "avc1.64001F", hasAudio: false, bandwidth: 1, averageBandwidth: 1, video: "copied", audio: nil),
            segments: [.init(index: 0, duration: 4, length: 32, sha256: String(repeating: "a", count: 64), merkleRoot: String(repeating: "b", count: 64))],
            ladder: ladder.map { Rendition(name: $0, width: 640, height: 360, videoBitrate: 800_000) }, transcode: ContentManifest.defaultTranscodeSettings)
    }

    /// A registry with staked, registered edges: (name, class, lat, lon).
    static func network(_ edges: [(String, String, Double, Double)], store: any CoordinatorStore, clock: TestClock) async throws -> (Registry, [String: TestEdge]) {
        let registry = Registry(store: store, policy: RoutingPolicy(heartbeatTimeout: 30), now: clock.now)
        var made: [String: TestEdge] = [:]
        for (name, deviceClass, lat, lon) in edges {
            let edge = TestEdge(deviceClass: deviceClass, latitude: lat, longitude: lon)
            try await RegistryFlowTests().stake(registry, edge.identity.id, bond: DeviceClass.named(deviceClass)!.stake / DeviceClass.baseUnitsPerDHB, at: clock.now())
            let body = edge.registration()
            _ = try await registry.register(body: body, headers: edge.signed(body, path: "/v1/nodes", at: clock.now()), path: "/v1/nodes")
            made[name] = edge
        }
        return (registry, made)
    }

    @Test("a title gets spread hosts; routes give delivery tasks, and transcoding tasks only to transcoding classes; lost hosts are replaced")
    func lifecycle() async throws {
        let dir = TemporaryDirectory("task-board")
        defer { dir.remove() }
        let store = try SQLiteStore(path: dir.path + "/c.sqlite")
        try await store.migrate()
        let clock = TestClock()
        let (registry, edges) = try await Self.network(
            [("paris", "pc", 48.86, 2.35), ("lyon", "server", 45.76, 4.84), ("tokyo", "mobile", 35.68, 139.69), ("nyc", "pc", 40.7, -74)],
            store: store, clock: clock)
        let id = { (name: String) in edges[name]!.identity.id }
        let board = TaskBoard(store: store, registry: registry, policy: HostingPolicy(replicas: 2, maxReplicas: 3, lookupsPerReplica: 10), now: clock.now)

        let manifest = Self.manifest("movie")
        try await store.saveContent(ContentRecord(id: "movie", manifest: String(decoding: try JSONEncoder().encode(manifest), as: UTF8.self), sealedKey: "x", createdAt: 0))
        let hosts = try await board.assignHosts(manifest).map(\.id)
        #expect(hosts.count == 2)
        // The two hosts are far apart: never both in France.
        #expect(Set(hosts).isSubset(of: [id("paris"), id("lyon")]) == false, "hosts \(hosts)")

        // Until a host reports the title whole, there are no sources to fill from.
        #expect(try await board.sources(of: "movie", near: nil).isEmpty)
        #expect(try await board.hosted(node: hosts[0], content: "movie"))
        #expect(try await !board.hosted(node: id("nyc") == hosts[0] ? id("paris") : id("nyc"), content: "unknown"))
        #expect(try await board.sources(of: "movie", near: nil).map(\.id) == [hosts[0]])

        // A route answer hands out delivery tasks; the pc also transcodes; the server does not.
        let routed = registry.route(content: "movie", from: GeoPoint(latitude: 48.8, longitude: 2.3), limit: 2)
        #expect(routed.map(\.id).contains(id("paris")) && routed.map(\.id).contains(id("lyon")))
        await board.noteRoute(content: "movie", edges: routed)
        let parisTasks = try await board.poll(node: id("paris"), after: 0, wait: .zero)
        #expect(parisTasks.contains { $0.kind == .delivery } && parisTasks.contains { $0.kind == .transcoding })
        let lyonTasks = try await board.poll(node: id("lyon"), after: 0, wait: .zero)
        #expect(lyonTasks.contains { $0.kind == .delivery } && !lyonTasks.contains { $0.kind == .transcoding })
        #expect(try await board.mayTranscode(node: id("paris"), content: "movie"))
        #expect(try await !board.mayTranscode(node: id("lyon"), content: "movie"))
        #expect(try await !board.mayTranscode(node: id("nyc"), content: "movie"))
        #expect(try await board.transcoders(of: "movie", near: GeoPoint(latitude: 45.76, longitude: 4.84)).map(\.id) == [id("paris")])
        // A title routed only to the server: the nearest edge that transcodes makes its renditions.
        try await store.saveContent(ContentRecord(id: "short", manifest: String(decoding: try JSONEncoder().encode(Self.manifest("short")), as: UTF8.self), sealedKey: "x", createdAt: 0))
        let lyon = try #require(registry.route(content: "short", from: GeoPoint(latitude: 45.7, longitude: 4.8), limit: 1).first)
        #expect(lyon.id == id("lyon"))
        await board.noteRoute(content: "short", edges: [lyon])
        #expect(try await board.transcoders(of: "short", near: GeoPoint(latitude: 45.7, longitude: 4.8)).map(\.id) == [id("paris")])
        // An unknown title gets no tasks.
        await board.noteRoute(content: "ghost", edges: routed)
        #expect(try await store.tasks(content: "ghost").isEmpty)

        // A long poll answers with the task assigned while it waits.
        let nyc = id("nyc")
        let cursor = try await board.poll(node: nyc, after: 0, wait: .zero).compactMap(\.sequence).max() ?? 0
        async let woken = board.poll(node: nyc, after: cursor, wait: .seconds(5))
        try await Task.sleep(for: .milliseconds(300))
        await board.noteRoute(content: "movie", edges: registry.route(content: "movie", from: GeoPoint(latitude: 40.7, longitude: -74), limit: 1))
        #expect(try await woken.contains { $0.kind == .delivery && $0.content == "movie" && ($0.sequence ?? 0) > cursor })
        // A wake between two polls (a challenge issued after one answer, before the next
        // request arrives) ends the next long poll at once instead of after its hour.
        let latest = try await woken.compactMap(\.sequence).max() ?? 0
        board.wake(nyc)
        let answeredFirst = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { _ = try await board.poll(node: nyc, after: latest, wait: .seconds(3600)); return true }
            group.addTask { try await Task.sleep(for: .seconds(60)); return false }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        #expect(answeredFirst, "a wake before the poll was lost")

        // Demand raises the replication factor: 3 hosts at 20 look-ups.
        for _ in 0..<20 { await board.noteRoute(content: "movie", edges: []) }
        let added = try await board.repair().filter { $0.content == "movie" }
        #expect(added.count == 1 && added[0].kind == .hosting)
        // Hosts that stop heartbeating are replaced by eligible edges that are not yet hosts: the
        // two first hosts go silent; the third stays; the one edge left joins.
        clock.advance(40)
        for name in edges.keys where !hosts.contains(id(name)) {
            let beat = Data(#"{"load":0.1,"freeCacheBytes":5,"healthy":true}"#.utf8)
            _ = try await registry.heartbeat(body: beat, headers: edges[name]!.signed(beat, path: "/v1/heartbeat", at: clock.now()), path: "/v1/heartbeat")
        }
        let replaced = try await board.repair().filter { $0.content == "movie" }
        let hostingNow = try await store.tasks(content: "movie").filter { $0.kind == .hosting }.map(\.node)
        #expect(replaced.count == 1 && !hosts.contains(replaced[0].node) && replaced[0].node != added[0].node, "replaced \(replaced)")
        #expect(Set(hostingNow) == Set(edges.values.map(\.identity.id)))
    }
}
