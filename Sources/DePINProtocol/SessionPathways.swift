/// `GET /v1/pathways/{content}?token=T`: the edges of a viewer's playback session in Content
/// Steering order (the same order as the session's `PATHWAY-PRIORITY`), with their base URLs.
/// An edge writing the session's master playlist repeats its variants once per pathway.
public struct SessionPathways: Codable, Sendable, Equatable {
    public struct Pathway: Codable, Sendable, Equatable {
        /// The pathway id: the edge's node id.
        public var id: String
        /// The edge's base URL (`https://edge.example.com:8443`).
        public var url: String

        public init(id: String, url: String) {
            self.id = id
            self.url = url
        }
    }

    public var session: String
    public var pathways: [Pathway]

    public init(session: String, pathways: [Pathway]) {
        self.session = session
        self.pathways = pathways
    }
}
