/// Made-up networks for tests and benchmarks: edges clustered around cities (four in five)
/// and the rest anywhere, with capacities 1 to 8 and one in ten not routable. Seeded, so a run
/// can be repeated exactly.
package enum SyntheticNetwork {
    package static func edges(_ count: Int, cities: Int, seed: UInt64) -> [RouteTable.Edge] {
        var random = SeededRandom(seed: seed)
        let centers = (0..<cities).map { _ in
            GeoPoint(latitude: Double.random(in: -60...70, using: &random), longitude: Double.random(in: -180...180, using: &random))
        }
        return (0..<count).map { index in
            let point: GeoPoint
            if index % 5 == 0 {
                point = GeoPoint(latitude: Double.random(in: -89...89, using: &random), longitude: Double.random(in: -180...180, using: &random))
            } else {
                let center = centers[Int.random(in: 0..<centers.count, using: &random)]
                point = GeoPoint(
                    latitude: min(89, max(-89, center.latitude + Double.random(in: -0.4...0.4, using: &random))),
                    longitude: min(180, max(-180, center.longitude + Double.random(in: -0.5...0.5, using: &random))))
            }
            return RouteTable.Edge(
                id: "edge-\(index)", location: point, capacity: Double(Int.random(in: 1...8, using: &random)),
                routable: Int.random(in: 0..<10, using: &random) != 0)
        }
    }
}

/// splitmix64 as a `RandomNumberGenerator`: seeded, fast, good enough for workloads.
package struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
