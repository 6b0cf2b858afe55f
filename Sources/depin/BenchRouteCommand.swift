import ArgumentParser
import Coordinator
import DePINProtocol
import Foundation

/// `depin bench-route`: the routing look-up in-process, on a synthetic network (used by
/// scripts/bench-route).
struct BenchRouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-route",
        abstract: "Measure in-process route look-ups on a synthetic network.",
        shouldDisplay: false
    )

    @Option(help: "Registered edges.") var edges = 100_000
    @Option(help: "Cities the edges cluster around.") var cities = 300
    @Option(help: "Look-ups to time.") var queries = 200_000
    @Option(help: "Edges per answer.") var limit = 5
    @Option(help: "Titles the viewers watch.") var titles = 10_000
    @Option(help: "Instead of timing, write the network to this new SQLite database (bonded pc edges whose last heartbeat is a day ahead).") var seed: String?

    func run() async throws {
        if let seed {
            try await seedDatabase(seed)
            return
        }
        var table = RouteTable(bandKilometres: 50)
        let network = SyntheticNetwork.edges(edges, cities: cities, seed: 1)
        let built = ContinuousClock.now
        network.forEach { table.upsert($0) }
        let buildTime = ContinuousClock.now - built
        // Viewers where people are: near the edges (the cities), plus one in five anywhere.
        var random = SeededRandom(seed: 2)
        let viewers: [GeoPoint] = (0..<4096).map { index in
            if index % 5 == 0 {
                return GeoPoint(latitude: Double.random(in: -80...80, using: &random), longitude: Double.random(in: -180...180, using: &random))
            }
            let near = network[Int.random(in: 0..<network.count, using: &random)].location
            return GeoPoint(latitude: min(89, max(-89, near.latitude + Double.random(in: -0.2...0.2, using: &random))), longitude: near.longitude)
        }
        let names = (0..<titles).map { "title-\($0)" }
        var latencies = [Int64](repeating: 0, count: queries)
        var returned = 0
        let clock = ContinuousClock()
        let started = clock.now
        for query in 0..<queries {
            let before = clock.now
            let routes = table.route(content: names[query % titles], from: viewers[query & 4095], limit: limit)
            latencies[query] = (clock.now - before).nanoseconds
            returned += routes.count
        }
        let total = clock.now - started
        latencies.sort()
        let perSecond = Double(queries) / (Double(total.nanoseconds) / 1e9)
        func micros(_ q: Double) -> String { String(format: "%.2f", Double(latencies[min(Int(Double(queries) * q), queries - 1)]) / 1000) }
        print("edges \(edges) (\(cities) cities), index built in \(buildTime), \(queries) look-ups of \(limit) edges, \(returned / queries) returned on average")
        print(String(format: "look-ups/s %.0f", perSecond) + "   p50 \(micros(0.5)) us   p99 \(micros(0.99)) us   max \(micros(1)) us")
    }
}

extension BenchRouteCommand {
    /// A coordinator database holding the synthetic network: every edge a bonded pc (one in ten
    /// reporting unhealthy)
    /// whose last heartbeat is a day ahead, so it stays routable for the whole benchmark.
    func seedDatabase(_ path: String) async throws {
        let store = try SQLiteStore(path: path)
        try await store.migrate()
        let now = Int64(Date().timeIntervalSince1970)
        let stake = DeviceClass.named("pc")!.stake
        var nodes: [NodeRecord] = []
        var events: [LedgerEvent] = []
        for edge in SyntheticNetwork.edges(edges, cities: cities, seed: 1) {
            nodes.append(
                NodeRecord(
                    id: edge.id, publicKey: "", deviceClass: "pc", cores: 8, ramGB: 16, mbps: edge.capacity * 100, gpu: true, diskGB: 500,
                    ssd: true, latitude: edge.location.latitude, longitude: edge.location.longitude, url: "https://\(edge.id).example:8443",
                    registeredAt: now, lastHeartbeat: now + 86_400, healthy: edge.routable))
            events.append(LedgerEvent(node: edge.id, kind: .deposit, amount: stake, reason: "benchmark", at: now))
            events.append(LedgerEvent(node: edge.id, kind: .bond, amount: stake, reason: "benchmark", at: now))
        }
        try await store.seed(nodes: nodes, events: events)
        try await store.close()
        print("seeded \(nodes.count) edges (\(nodes.filter(\.healthy).count) healthy) into \(path)")
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
