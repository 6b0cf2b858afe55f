import Foundation

/// How many edges keep a title's source, and which: the replication factor grows with demand,
/// and hosts are spread across regions before capacity decides.
package struct HostingPolicy: Sendable, Equatable {
    /// Hosts of every title, however little it is watched.
    package var replicas = 2
    /// Hosts of the most watched titles.
    package var maxReplicas = 6
    /// Route look-ups (in the demand window) that earn one more host; each doubling adds one.
    package var lookupsPerReplica = 1_000
    /// Distance band, km, within which hosts count as in the same region.
    package var spreadKilometres = 500.0

    package init(replicas: Int = 2, maxReplicas: Int = 6, lookupsPerReplica: Int = 1_000) {
        self.replicas = replicas
        self.maxReplicas = max(replicas, maxReplicas)
        self.lookupsPerReplica = max(1, lookupsPerReplica)
    }

    /// The replication factor for a title looked up `lookups` times in the demand window:
    /// `replicas + floor(log2(1 + lookups / lookupsPerReplica))`, at most `maxReplicas`.
    package func target(lookups: Int) -> Int {
        let extra = Int(log2(1 + Double(max(0, lookups)) / Double(lookupsPerReplica)))
        return min(maxReplicas, replicas + extra)
    }

    /// An edge that may host a title now.
    package struct Candidate: Sendable, Equatable {
        package var id: String
        package var location: GeoPoint
        /// The rendezvous weight: the whitepaper's resource score.
        package var capacity: Double

        package init(id: String, location: GeoPoint, capacity: Double) {
            self.id = id
            self.location = location
            self.capacity = capacity
        }
    }

    /// Picks up to `count` hosts for `content` from `candidates`, given the places of the hosts
    /// it already has. Each pick is the candidate farthest (in ``spreadKilometres`` bands) from
    /// every host so far; among equals, weighted rendezvous hashing on (content, edge), so
    /// titles spread over edges in proportion to capacity and the choice is the same in every
    /// coordinator. Deterministic.
    package func choose(_ count: Int, content: String, from candidates: [Candidate], existing: [GeoPoint] = []) -> [Candidate] {
        let contentHash = Rendezvous.hash(content)
        var remaining = candidates.map { ($0, Rendezvous.score(content: contentHash, edge: Rendezvous.hash($0.id), weight: max($0.capacity, 0.1))) }
        var placed = existing
        var chosen: [Candidate] = []
        while chosen.count < count, !remaining.isEmpty {
            var best = 0
            var bestKey = (band: -1, score: -Double.infinity)
            for (index, (candidate, score)) in remaining.enumerated() {
                let nearest = placed.map { candidate.location.distance(to: $0) }.min() ?? 0
                let band = placed.isEmpty ? 0 : Int(nearest / spreadKilometres)
                if band > bestKey.band || (band == bestKey.band && score > bestKey.score) {
                    best = index
                    bestKey = (band, score)
                }
            }
            let pick = remaining.remove(at: best).0
            chosen.append(pick)
            placed.append(pick.location)
        }
        return chosen
    }
}
