import DePINProtocol
import Foundation
import NIOHTTP1
import TestSupport

/// What the viewer tests need of a ``TestNetwork``: a published title on staked server edges
/// that all host it, route answers for a viewer near Paris, and tokens signed with the
/// coordinator's own key (expired ones included).
extension TestNetwork {
    /// Where the viewers in these tests are: near Paris.
    static let viewer = (lat: 48.80, lon: 2.30)

    /// A coordinator with one staked server edge per place, each a host of `movie` (a
    /// `seconds`-long 640x360 clip, so its master playlist lists the source alone); returns once
    /// a route answer lists every edge, in the order given (nearest first).
    static func hosting(_ name: String, seconds: Double, places: [(name: String, lat: Double, lon: Double)]) async throws -> TestNetwork {
        var network = try await TestNetwork.start(name, coordinatorArguments: ["--replicas", String(places.count), "--challenge-interval", "0"])
        do {
            for place in places { try await network.addEdge(place.name, "server", lat: place.lat, lon: place.lon) }
            let ids = places.map { network.edges[$0.name]!.id }
            guard try await network.waitUntil(seconds: 20, { try await network.viewerRoute().edges.map(\.id) == ids }) else {
                throw ToolError("the route never listed the edges \(ids)")
            }
            let published = try await network.publishMovie(seconds: seconds)
            guard published.status == 0 else { throw ToolError("publish failed: \(published.output)") }
        } catch {
            network.stop()
            throw error
        }
        return network
    }

    /// A route answer for the viewer near Paris: its session, token and edges.
    func viewerRoute(content: String = "movie") async throws -> (session: String, token: String, edges: [(id: String, url: String)]) {
        let answer = try await client.send(.GET, "/v1/route?content=\(content)&lat=\(Self.viewer.lat)&lon=\(Self.viewer.lon)")
        let edges = (answer.json["edges"] as? [[String: Any]] ?? []).compactMap { edge -> (id: String, url: String)? in
            guard let id = edge["id"] as? String, let url = edge["url"] as? String else { return nil }
            return (id, url)
        }
        return (answer.json["session"] as? String ?? "", answer.json["token"] as? String ?? "", edges)
    }

    /// The edge named `name`'s process.
    func edge(_ name: String) -> EdgeProcess { edges[name]!.process }

    /// A playback token for `content` signed with the coordinator's own key, issued `age`
    /// seconds ago and valid for `lifetime` seconds (expired when `age` > `lifetime`).
    func signedToken(content: String, session: String = "0-test-session", age: TimeInterval, lifetime: TimeInterval) async throws -> String {
        let identity = try NodeIdentity.read(from: dir.path + "/c.key")
        let tokens = await PlaybackTokens(signingKey: identity.privateKey)
        return try await tokens.issue(content: content, session: session, lifetime: lifetime, now: Date().addingTimeInterval(-age))
    }
}
