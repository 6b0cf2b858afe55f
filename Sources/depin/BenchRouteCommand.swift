import ArgumentParser
import Coordinator
import Foundation

/// `depin bench-route`: the routing look-up in-process, on a synthetic network (used by
/// scripts/bench-route).
struct BenchRouteCommand: ParsableCommand {
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

    func run() throws {
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

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
