/// `GET /v1/route`.
package struct RouteAnswer: Codable, Sendable {
    package var content: String
    /// The playback session the token is bound to.
    package var session: String
    /// A playback token for `content` (JWT, EdDSA), for edges and the key service.
    package var token: String
    package var edges: [RoutedEdge]

    package init(content: String, session: String, token: String, edges: [RoutedEdge]) {
        self.content = content
        self.session = session
        self.token = token
        self.edges = edges
    }

    /// The answer as JSON, written by hand: it is on the hot path, and `JSONEncoder` costs
    /// several times the look-up. Same keys, sorted, as `JSONEncoder` with `.sortedKeys`
    /// writes (tested against `JSONDecoder`).
    package var json: String {
        var out = "{\"content\":"
        JSONText.append(content, to: &out)
        out += ",\"edges\":["
        for (index, edge) in edges.enumerated() {
            if index > 0 { out += "," }
            out += "{\"distanceKilometres\":"
            out += edge.distanceKilometres.isFinite ? String(edge.distanceKilometres) : "0"
            out += ",\"id\":"
            JSONText.append(edge.id, to: &out)
            out += ",\"url\":"
            JSONText.append(edge.url, to: &out)
            out += "}"
        }
        out += "],\"session\":"
        JSONText.append(session, to: &out)
        out += ",\"token\":"
        JSONText.append(token, to: &out)
        out += "}"
        return out
    }
}

/// One edge of a routing answer.
package struct RoutedEdge: Sendable, Equatable, Codable {
    package var id: String
    package var url: String
    package var distanceKilometres: Double

    package init(id: String, url: String, distanceKilometres: Double) {
        self.id = id
        self.url = url
        self.distanceKilometres = distanceKilometres
    }
}
