/// `POST /v1/tasks` (signed): an edge's long poll for its work, and its reports of work done.
public struct TaskPollRequest: Codable, Sendable, Equatable, KnownFields {
    /// The highest task sequence number the edge has seen; the answer waits for a newer one.
    public var after: Int64
    /// Seconds to wait for a newer task (0 to 60); 0 answers at once.
    public var wait: Int
    /// Hosting tasks the edge has finished (every file held and checked) since its last poll.
    public var hosted: [String]

    public static let knownFields: Set<String> = ["after", "wait", "hosted"]

    public init(after: Int64, wait: Int, hosted: [String] = []) {
        self.after = after
        self.wait = wait
        self.hosted = hosted
    }
}

/// The answer to a poll: every task the edge has now, the challenges it must answer, and the
/// cursor for the next poll.
public struct TaskPollAnswer: Codable, Sendable, Equatable {
    public var cursor: Int64
    public var tasks: [AssignedTask]
    /// Open proof-of-retrievability challenges for titles this edge hosts.
    public var challenges: [Challenge]?
    /// Open capacity probes for this edge.
    public var probes: [WorkProbe]?

    public init(cursor: Int64, tasks: [AssignedTask], challenges: [Challenge]? = nil, probes: [WorkProbe]? = nil) {
        self.cursor = cursor
        self.tasks = tasks
        self.challenges = challenges
        self.probes = probes
    }
}

/// One piece of work for one title.
///
/// - `hosting`: keep the title's source (manifest, playlists, source segments) in the edge's
///   hosted store, uploaded by the publisher or copied from ``sources``; report it in
///   ``TaskPollRequest/hosted`` when every file is there and checked.
/// - `delivery`: serve the title to viewers, filling misses from ``sources`` (its hosts).
/// - `transcoding`: make ``renditions`` on demand; the content key comes from a lease
///   (`POST /v1/leases`), scoped to the title and time-limited.
public struct AssignedTask: Codable, Sendable, Equatable {
    /// The values of ``kind``.
    public enum Kinds {
        public static let hosting = "hosting"
        public static let transcoding = "transcoding"
        public static let delivery = "delivery"
    }
    public var content: String
    public var kind: String
    /// Edges to fill the title from (URLs): its hosts, nearest first; for a delivery edge that
    /// does not transcode, then the edges that make its renditions.
    public var sources: [String]
    /// A token that opens the title at those hosts (`Authorization: Bearer`).
    public var token: String?
    /// Renditions to make (transcoding).
    public var renditions: [String]
    /// The coordinator has the edge's report that the task is done.
    public var done: Bool

    public init(content: String, kind: String, sources: [String] = [], token: String? = nil, renditions: [String] = [], done: Bool = false) {
        self.content = content
        self.kind = kind
        self.sources = sources
        self.token = token
        self.renditions = renditions
        self.done = done
    }
}

/// `POST /v1/contents` answer: where the publisher uploads the title's source, each host with
/// a token that lets it upload this title to that host only.
public struct ContentRegistrationAnswer: Codable, Sendable, Equatable {
    public struct Host: Codable, Sendable, Equatable {
        public var id: String
        public var url: String
        /// `Authorization: Bearer` for `PUT {url}/hosting/{content}/{path}`.
        public var token: String

        public init(id: String, url: String, token: String) {
            self.id = id
            self.url = url
            self.token = token
        }
    }
    public var id: String
    public var hosts: [Host]

    public init(id: String, hosts: [Host]) {
        self.id = id
        self.hosts = hosts
    }
}

/// Whom a coordinator token was given to, as its `sub` says: a viewer's playback session, or an
/// edge that uploads a title to a host (`host:NODE`) or fills it from its hosts (`fill:NODE`).
public enum TokenScope: Sendable, Equatable {
    case viewer(session: String)
    /// May upload the title to node `node` (and read it there).
    case host(node: String)
    /// Node `node` filling the title from its hosts.
    case fill(node: String)

    /// The scope a token's `sub` names.
    public init(subject: String) {
        if subject.hasPrefix("host:") {
            self = .host(node: String(subject.dropFirst(5)))
        } else if subject.hasPrefix("fill:") {
            self = .fill(node: String(subject.dropFirst(5)))
        } else {
            self = .viewer(session: subject)
        }
    }

    /// The token's `sub`.
    public var subject: String {
        switch self {
        case .viewer(let session): session
        case .host(let node): "host:" + node
        case .fill(let node): "fill:" + node
        }
    }

    /// True for a token given to an edge (not a viewer): it opens no keys and counts no
    /// delivery.
    public var isEdge: Bool {
        if case .viewer = self { return false }
        return true
    }
}
