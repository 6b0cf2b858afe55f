import Foundation

/// The edges a viewer can be sent to, indexed by place, and the routing look-up.
///
/// Order of an answer: distance band first (great-circle distance from the viewer divided by
/// ``bandKilometres``, rounded down), then, within a band, weighted rendezvous hashing on
/// (content, edge) by capacity, so one title's viewers in a city land on the same few edges.
/// Only edges marked routable (healthy, staked, not slashed, allowed to deliver, under their
/// load limit: the registry decides) are candidates.
///
/// The index is a grid of 0.5° cells; a look-up reads the cells around the viewer in growing
/// windows until the answer cannot change (every unseen edge is farther than the last band it
/// returns).
///
/// ## Performance characteristics
/// A look-up costs one dot product per routable edge in the windows it reads (and an `acos`
/// for those past the first band), and one hash and one `log` per edge in the bands it answers
/// from; no heap allocation but the answer (and the window's scratch when it is large). Edge data is kept as parallel arrays, so the hot loop touches no reference counts.
/// `depin bench-route` measures it. Updates are O(1) except moving an edge (O(edges in its
/// cell)). Not thread-safe: the coordinator keeps it in a `Mutex`.
package struct RouteTable: Sendable {
    package struct Edge: Sendable, Equatable {
        package var id: String
        package var location: GeoPoint
        /// Relative capacity (the rendezvous weight), > 0.
        package var capacity: Double
        package var routable: Bool

        package init(id: String, location: GeoPoint, capacity: Double, routable: Bool = true) {
            self.id = id
            self.location = location
            self.capacity = capacity
            self.routable = routable
        }
    }

    /// One edge of an answer.
    package struct Route: Sendable, Equatable {
        package var id: String
        package var distance: Double
        package var band: Int
    }

    /// Width of a distance band, km.
    package let bandKilometres: Double
    static let cellDegrees = 0.5
    static let latitudeCells = Int(180 / cellDegrees)
    static let longitudeCells = Int(360 / cellDegrees)

    // Parallel arrays indexed by slot.
    private var edges: [Edge] = []
    private var vectors: [SIMD3<Double>] = []
    private var hashes: [UInt64] = []
    private var weights: [Double] = []
    private var routable: [Bool] = []
    private var cellOf: [Int] = []
    private var free: [Int] = []
    private var byID: [String: Int] = [:]
    private var cells: [[Int32]]

    package init(bandKilometres: Double = 50) {
        precondition(bandKilometres > 0)
        self.bandKilometres = bandKilometres
        cells = Array(repeating: [], count: Self.latitudeCells * Self.longitudeCells)
    }

    package var count: Int { byID.count }

    package func edge(_ id: String) -> Edge? { byID[id].map { edges[$0] } }

    /// Adds an edge, or replaces the one with its id.
    package mutating func upsert(_ edge: Edge) {
        precondition(edge.location.isValid && edge.capacity > 0, "RouteTable: invalid edge \(edge.id)")
        let cell = Self.cell(of: edge.location)
        if let index = byID[edge.id] {
            let old = cellOf[index]
            store(edge, at: index, cell: cell)
            if old != cell {
                cells[old].removeAll { $0 == Int32(index) }
                cells[cell].append(Int32(index))
            }
            return
        }
        let index: Int
        if let reused = free.popLast() {
            index = reused
        } else {
            index = edges.count
            edges.append(edge)
            vectors.append(.zero)
            hashes.append(0)
            weights.append(0)
            routable.append(false)
            cellOf.append(0)
        }
        store(edge, at: index, cell: cell)
        byID[edge.id] = index
        cells[cell].append(Int32(index))
    }

    private mutating func store(_ edge: Edge, at index: Int, cell: Int) {
        edges[index] = edge
        vectors[index] = edge.location.unitVector
        hashes[index] = Rendezvous.hash(edge.id)
        weights[index] = edge.capacity
        routable[index] = edge.routable
        cellOf[index] = cell
    }

    /// Marks an edge routable or not (health, stake, load); false if it is unknown.
    @discardableResult
    package mutating func setRoutable(_ id: String, _ value: Bool) -> Bool {
        guard let index = byID[id] else { return false }
        edges[index].routable = value
        routable[index] = value
        return true
    }

    package mutating func remove(_ id: String) {
        guard let index = byID.removeValue(forKey: id) else { return }
        cells[cellOf[index]].removeAll { $0 == Int32(index) }
        routable[index] = false
        free.append(index)
    }

    /// The `limit` best edges for a viewer at `viewer` watching `content`, best first.
    package func route(content: String, from viewer: GeoPoint, limit: Int) -> [Route] {
        guard limit > 0, !byID.isEmpty else { return [] }
        let contentHash = Rendezvous.hash(content)
        let origin = viewer.unitVector
        let bandAngle = bandKilometres / GeoPoint.earthRadius
        // Most edges a viewer is sent to are in band 0: tell that from the dot product alone.
        let firstBandCosine = cos(bandAngle)
        var radius = bandKilometres
        while true {
            var members = 0
            forEachCell(around: viewer, radius: radius) { members += $0.count }
            let covered = radius >= .pi * GeoPoint.earthRadius
            let answer = withUnsafeTemporaryAllocation(of: Seen.self, capacity: max(members, 1)) { seen -> [Route]? in
                // One pass over the window: each routable edge's band, counted.
                var count = 0
                var counts = BandCounts()
                vectors.withUnsafeBufferPointer { vectors in
                    routable.withUnsafeBufferPointer { routable in
                        forEachCell(around: viewer, radius: radius) { cell in
                            for member in cell where routable[Int(member)] {
                                let cosine = min(1, max(-1, (vectors[Int(member)] * origin).sum()))
                                let band = cosine > firstBandCosine ? 0 : Int(acos(cosine) / bandAngle)
                                seen[count] = Seen(index: member, band: band, cosine: cosine)
                                count += 1
                                counts.add(band)
                            }
                        }
                    }
                }
                // Final once every band up to the last one needed lies inside the window.
                guard let lastBand = counts.lastBand(holding: limit) ?? (covered ? Int.max : nil),
                    covered || Double(lastBand) + 1 <= radius / bandKilometres
                else { return nil }
                return withUnsafeTemporaryAllocation(of: Candidate.self, capacity: limit) { best in
                    var kept = 0
                    for i in 0..<count where seen[i].band <= lastBand {
                        let index = Int(seen[i].index)
                        let score = Rendezvous.score(content: contentHash, edge: hashes[index], weight: weights[index])
                        Self.keep(Candidate(index: seen[i].index, band: seen[i].band, score: score, cosine: seen[i].cosine), in: best, count: &kept, limit: limit)
                    }
                    return (0..<kept).map { i in
                        Route(id: edges[Int(best[i].index)].id, distance: acos(best[i].cosine) * GeoPoint.earthRadius, band: best[i].band)
                    }
                }
            }
            if let answer { return answer }
            radius *= 2
        }
    }

    /// An edge in the window read.
    private struct Seen {
        var index: Int32
        var band: Int
        var cosine: Double
    }

    private struct Candidate {
        var index: Int32
        var band: Int
        var score: Double
        var cosine: Double

        /// Nearer band first, then higher score (ties by slot, so answers are deterministic).
        func precedes(_ other: Candidate) -> Bool {
            if band != other.band { return band < other.band }
            if score != other.score { return score > other.score }
            return index < other.index
        }
    }

    /// Inserts `candidate` into the sorted `best[0..<count]` if it belongs in the top `limit`.
    @inline(__always)
    private static func keep(_ candidate: Candidate, in best: UnsafeMutableBufferPointer<Candidate>, count: inout Int, limit: Int) {
        if count == limit && !candidate.precedes(best[count - 1]) { return }
        var position = count == limit ? count - 1 : count
        while position > 0 && candidate.precedes(best[position - 1]) {
            best[position] = best[position - 1]
            position -= 1
        }
        best[position] = candidate
        if count < limit { count += 1 }
    }

    /// Edges per band for the first 64 bands, the rest counted together.
    private struct BandCounts {
        private var counts = (
            SIMD32<Int32>(repeating: 0), SIMD32<Int32>(repeating: 0)
        )
        private var beyond = 0

        mutating func add(_ band: Int) {
            if band < 32 {
                counts.0[band] += 1
            } else if band < 64 {
                counts.1[band - 32] += 1
            } else {
                beyond += 1
            }
        }

        /// The band by which `limit` edges are counted, if the first 64 bands hold them.
        func lastBand(holding limit: Int) -> Int? {
            var total = 0
            for band in 0..<64 {
                total += Int(band < 32 ? counts.0[band] : counts.1[band - 32])
                if total >= limit { return band }
            }
            return nil
        }
    }

    // MARK: - Grid

    static func cell(of point: GeoPoint) -> Int {
        let row = min(Int((point.latitude + 90) / cellDegrees), latitudeCells - 1)
        let column = min(Int((point.longitude + 180) / cellDegrees), longitudeCells - 1)
        return row * longitudeCells + column
    }

    /// Calls `body` with the members of every non-empty cell that may hold a point within
    /// `radius` km of `center`.
    @inline(__always)
    private func forEachCell(around center: GeoPoint, radius: Double, _ body: ([Int32]) -> Void) {
        let degrees = radius / GeoPoint.earthRadius * 180 / .pi
        let south = max(center.latitude - degrees, -90), north = min(center.latitude + degrees, 90)
        let firstRow = max(Int((south + 90) / Self.cellDegrees), 0)
        let lastRow = min(Int((north + 90) / Self.cellDegrees), Self.latitudeCells - 1)
        // Longitude span at the window's edge nearest a pole (all longitudes past a pole).
        let widest = max(abs(south), abs(north))
        let span = widest >= 89.9 || degrees >= 90 ? 180 : min(180, degrees / cos(widest * .pi / 180))
        var first = 0, last = Self.longitudeCells - 1
        if span < 180 {
            first = Int(((center.longitude - span + 180) / Self.cellDegrees).rounded(.down))
            last = Int(((center.longitude + span + 180) / Self.cellDegrees).rounded(.down))
            if last - first + 1 >= Self.longitudeCells { (first, last) = (0, Self.longitudeCells - 1) }
        }
        for row in firstRow...lastRow {
            let base = row * Self.longitudeCells
            for column in first...last {
                let wrapped = column < 0 ? column + Self.longitudeCells : column >= Self.longitudeCells ? column - Self.longitudeCells : column
                let members = cells[base + wrapped]
                if !members.isEmpty { body(members) }
            }
        }
    }
}
