@testable import Coordinator
import Testing

func randomEdges(_ count: Int, cities: Int, seed: UInt64) -> [RouteTable.Edge] {
    SyntheticNetwork.edges(count, cities: cities, seed: seed)
}

/// The answer by brute force: every routable edge, sorted by band, then rendezvous score.
func bruteForce(_ edges: [RouteTable.Edge], content: String, from viewer: GeoPoint, limit: Int, band: Double) -> [String] {
    let contentHash = Rendezvous.hash(content)
    var ranked: [(band: Int, score: Double, id: String)] = []
    for edge in edges where edge.routable {
        let distance: Double = viewer.distance(to: edge.location)
        let score: Double = Rendezvous.score(content: contentHash, edge: Rendezvous.hash(edge.id), weight: edge.capacity)
        ranked.append((Int(distance / band), score, edge.id))
    }
    ranked.sort { $0.band != $1.band ? $0.band < $1.band : $0.score > $1.score }
    return ranked.prefix(limit).map(\.id)
}

@Suite("Routing: nearest band first, then rendezvous hashing by capacity")
struct RouteTableTests {
    @Test("the index answers exactly what a scan of every edge answers", arguments: [1, 2, 3, 4])
    func matchesBruteForce(seed: UInt64) {
        let edges = randomEdges(3000, cities: 40, seed: seed)
        var table = RouteTable(bandKilometres: 50)
        edges.forEach { table.upsert($0) }
        var random = SeededRandom(seed: seed * 7919)
        for query in 0..<200 {
            let viewer = GeoPoint(latitude: Double.random(in: -90...90, using: &random), longitude: Double.random(in: -180...180, using: &random))
            let limit = [1, 3, 5, 20][query % 4]
            let got = table.route(content: "title-\(query % 13)", from: viewer, limit: limit).map(\.id)
            let want = bruteForce(edges, content: "title-\(query % 13)", from: viewer, limit: limit, band: 50)
            // Edges exactly on a band boundary may round differently in the two distance formulas.
            if got != want {
                let gotBands = table.route(content: "title-\(query % 13)", from: viewer, limit: limit).map(\.band)
                #expect(got == want, "seed \(seed) query \(query) at \(viewer): bands \(gotBands)")
            }
        }
    }

    @Test("the nearest band always wins: no unreturned routable edge is in a nearer band than a returned one")
    func nearestBandWins() {
        let edges = randomEdges(2000, cities: 25, seed: 11)
        var table = RouteTable(bandKilometres: 40)
        edges.forEach { table.upsert($0) }
        var random = SeededRandom(seed: 12)
        for _ in 0..<300 {
            let viewer = GeoPoint(latitude: Double.random(in: -80...80, using: &random), longitude: Double.random(in: -180...180, using: &random))
            let routes = table.route(content: "t", from: viewer, limit: 4)
            #expect(routes.count == 4)
            #expect(routes.map(\.band) == routes.map(\.band).sorted())
            let returned = Set(routes.map(\.id))
            let worst = routes.last!.band
            let nearer = edges.filter { $0.routable && !returned.contains($0.id) && Int(viewer.distance(to: $0.location) / 40) < worst }
            #expect(nearer.isEmpty, "\(nearer.map(\.id)) are nearer than band \(worst)")
            #expect(routes.allSatisfy { table.edge($0.id)?.routable == true })
        }
    }

    @Test("the rendezvous choice is stable when unrelated edges join or leave")
    func stableChoice() {
        let edges = randomEdges(1500, cities: 10, seed: 21)
        var table = RouteTable(bandKilometres: 50)
        edges.forEach { table.upsert($0) }
        var random = SeededRandom(seed: 22)
        for query in 0..<100 {
            let viewer = edges[Int.random(in: 0..<edges.count, using: &random)].location
            let before = table.route(content: "title-\(query)", from: viewer, limit: 3).map(\.id)
            var changed = table
            // Edges that were not chosen leave; new edges far away join.
            for edge in edges.shuffled(using: &random).prefix(200) where !before.contains(edge.id) { changed.remove(edge.id) }
            for index in 0..<50 {
                changed.upsert(.init(id: "far-\(index)", location: GeoPoint(latitude: -viewer.latitude, longitude: viewer.longitude > 0 ? viewer.longitude - 179 : viewer.longitude + 179), capacity: 8))
            }
            #expect(changed.route(content: "title-\(query)", from: viewer, limit: 3).map(\.id) == before)
        }
    }

    @Test("an edge that joins the same band changes a title's choice only by taking a place itself")
    func joiningEdge() {
        var table = RouteTable(bandKilometres: 50)
        let city = GeoPoint(latitude: 48.85, longitude: 2.35)
        for index in 0..<30 {
            table.upsert(.init(id: "paris-\(index)", location: GeoPoint(latitude: 48.85 + Double(index) * 0.001, longitude: 2.35), capacity: 2))
        }
        for title in 0..<200 {
            let before = table.route(content: "t\(title)", from: city, limit: 3).map(\.id)
            var joined = table
            joined.upsert(.init(id: "paris-new", location: city, capacity: 2))
            let after = joined.route(content: "t\(title)", from: city, limit: 3).map(\.id)
            #expect(after == before || (after.contains("paris-new") && Array(after.filter { $0 != "paris-new" }) == Array(before.prefix(2))))
        }
    }

    @Test("capacity weights the share of titles an edge wins")
    func weighted() {
        var table = RouteTable(bandKilometres: 50)
        let city = GeoPoint(latitude: 40.7, longitude: -74)
        table.upsert(.init(id: "big", location: city, capacity: 4))
        table.upsert(.init(id: "small", location: city, capacity: 1))
        var wins = 0
        for title in 0..<10_000 where table.route(content: "t\(title)", from: city, limit: 1).first?.id == "big" { wins += 1 }
        // Expected share 4/5 = 8,000; 4 standard deviations is about 160.
        #expect(abs(wins - 8000) < 200, "big won \(wins) of 10000")
    }

    @Test("unroutable edges are never returned; an empty table answers nothing")
    func unroutable() {
        var table = RouteTable()
        #expect(table.route(content: "t", from: GeoPoint(latitude: 0, longitude: 0), limit: 3).isEmpty)
        table.upsert(.init(id: "a", location: GeoPoint(latitude: 0, longitude: 0), capacity: 1))
        table.upsert(.init(id: "b", location: GeoPoint(latitude: 60, longitude: 100), capacity: 1))
        table.setRoutable("a", false)
        #expect(table.route(content: "t", from: GeoPoint(latitude: 0, longitude: 0), limit: 3).map(\.id) == ["b"])
        table.remove("b")
        #expect(table.route(content: "t", from: GeoPoint(latitude: 0, longitude: 0), limit: 3).isEmpty)
        // Moving an edge moves it in the index.
        table.upsert(.init(id: "a", location: GeoPoint(latitude: -33.9, longitude: 151.2), capacity: 1))
        #expect(table.route(content: "t", from: GeoPoint(latitude: -33.8, longitude: 151), limit: 1).first?.distance ?? 99 < 30)
    }

    @Test("great-circle distances match known city pairs")
    func distances() {
        let london = GeoPoint(latitude: 51.5074, longitude: -0.1278)
        let newYork = GeoPoint(latitude: 40.7128, longitude: -74.0060)
        #expect(abs(london.distance(to: newYork) - 5570) < 10)
        #expect(GeoPoint(latitude: 0, longitude: 179.9).distance(to: GeoPoint(latitude: 0, longitude: -179.9)) < 23)
    }
}
