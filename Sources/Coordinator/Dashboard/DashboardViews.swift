import DePINProtocol

/// The network at a glance (`/dashboard`, `GET /v1/dashboard`).
struct NetworkView: Codable {
    /// When the figures were taken (Unix seconds).
    var at: Int64
    var nodes: [NodeSummary]
    var totals: NetworkTotals
    var titles: [TitleSummary]
    /// The newest settled epochs, newest first.
    var epochs: [EpochSummary]
}

/// One edge on the map and in the list.
struct NodeSummary: Codable {
    var id: String
    var deviceClass: String
    var latitude: Double
    var longitude: Double
    /// Whether it is given its class's main work now (viewers; hosting for a class that does
    /// not deliver), and if not, why.
    var routed: Bool
    var reason: String?
    /// Bonded and slashed stake, base units.
    var bonded: Int64
    var slashed: Int64
    var lastHeartbeat: Int64
    var load: Double
    /// Viewers it serves now (estimated: ``Audience``).
    var viewers: Int
}

struct NetworkTotals: Codable {
    var nodes: Int
    var routable: Int
    /// Stake bonded by every node, base units.
    var bondedStake: Int64
    /// Bytes of accepted delivery claims (receipts) in the current hour and the 23 before it.
    var deliveredBytes24h: Int64
    var receipts24h: Int
    var titles: Int
    /// Titles with at least one host that holds a whole copy and may host now.
    var titlesHosted: Int
}

struct TitleSummary: Codable {
    var id: String
    /// `published`, `live` or `live, ended`.
    var kind: String
    /// Hosts that hold a whole copy (hosting task done) and may host now.
    var hosts: Int
    /// Viewers now, over every edge (estimated: ``Audience``).
    var watching: Int
}

/// One miner (`/dashboard/nodes/{id}`, `GET /v1/dashboard/nodes/{id}`).
struct NodePageView: Codable {
    var at: Int64
    /// What `GET /v1/nodes/{id}` answers.
    var node: NodeView
    /// For each task its class does: whether it is given that task now, and if not, why.
    var tasksAllowed: [TaskAllowed]
    var ramGB: Double
    var mbpsClaimed: Double
    var registeredAt: Int64
    /// Cores the node's rewards count (``CapacityPolicy/credited(claimed:best:)``).
    var coresCounted: Double
    /// Whether the bonded stake is enough for the class, in words.
    var bond: String
    /// The newest ledger events, newest first.
    var ledger: [LedgerEntry]
    /// Accepted claims per hour: the current hour and the 23 before it, oldest first.
    var traffic: [HourTraffic]
    /// Challenges settled within the reputation window, by outcome; the newest 20.
    var challenges: OutcomeCounts
    var recentChallenges: [ChallengeEntry]
    /// The newest transcode reports.
    var recentTranscodes: [TranscodeEntry]
    var probes: [ProbeEntry]
    /// Everything that stands between this node and a slash, or its routing, in words.
    var warnings: [String]
    /// How many tasks it was given in all, and the newest.
    var taskCount: Int
    var tasks: [TaskEntry]
    /// Its payout in each of the newest settled epochs it worked in, newest first.
    var payouts: [PayoutEntry]
}

struct TaskAllowed: Codable {
    /// `delivery` (routed to viewers), `hosting` or `transcoding`.
    var task: String
    var refusal: String?
}

struct LedgerEntry: Codable {
    var kind: String
    /// Base units.
    var amount: Int64
    var reason: String
    var evidence: String?
    var at: Int64
}

struct HourTraffic: Codable, Sendable {
    /// The hour's start (Unix seconds).
    var hour: Int64
    var bytes: Int64
    var receipts: Int
}

/// How many of something ended each way (challenge outcomes, transcode statuses).
struct OutcomeCounts: Codable {
    var counts: [String: Int]
    var total: Int
}

struct ChallengeEntry: Codable {
    var content: String
    var segment: Int
    var chunk: Int
    var issuedAt: Int64
    var answeredAt: Int64?
    var outcome: String
    /// What the outcome means.
    var reason: String
}

struct TranscodeEntry: Codable {
    var content: String
    var rendition: String
    var segment: Int
    var bytes: Int64
    var reportedAt: Int64
    var status: String
    var reason: String
}

struct ProbeEntry: Codable {
    var issuedAt: Int64
    var outcome: String
    var measuredCores: Double?
}

struct TaskEntry: Codable {
    var node: String
    var content: String
    var kind: String
    var createdAt: Int64
    var doneAt: Int64?
}

/// One epoch's payout, term by term as `depin rewards explain` prints it.
struct PayoutEntry: Codable {
    var epoch: Int64
    var amount: Int64
    var points: Double
    var explanation: MinerExplanation
    /// The lines `depin rewards explain` prints, the proof's last.
    var lines: [String]
    /// Whether the Merkle proof leads to the report's root and the coordinator's key signed
    /// that root; nil when there is no payout, so no proof.
    var proofValid: Bool?
}

/// One title (`/dashboard/titles/{id}`, `GET /v1/dashboard/titles/{id}`).
struct TitlePageView: Codable {
    var at: Int64
    var id: String
    var kind: String
    /// Bytes of the source rendition, its peak bitrate (bits per second) and length (seconds);
    /// nil while a live title streams.
    var bytes: Int64?
    var bitrate: Int64?
    var seconds: Double?
    var source: String?
    var ladder: [String]
    var hosts: [TaskEntry]
    /// Hosts that hold a whole copy and may host now.
    var hostsNow: [String]
    /// Whole copies made over time (a hosting task done): one point per copy, oldest first.
    /// A host lost later still counts here; ``hostsNow`` says which hold it now.
    var copies: [ReplicaPoint]
    var deliveries: [TaskEntry]
    var transcoders: [TaskEntry]
    /// Accepted claims for the title per hour (the current hour and the 23 before it), and its
    /// distinct sessions over those hours.
    var demand: [HourTraffic]
    var sessions24h: Int
    /// Viewers now at each edge that has some (estimated: ``Audience``), by edge id.
    var watchingNow: [String: Int]
    /// Renditions made, by rendition and node, summed over the newest reports (all of them
    /// unless ``renditionsCapped``).
    var renditions: [RenditionMade]
    var renditionsCapped: Bool
}

struct ReplicaPoint: Codable {
    var at: Int64
    var hosts: Int
}

struct RenditionMade: Codable {
    var rendition: String
    var node: String
    var segments: Int
    var bytes: Int64
    /// Reports by audit status.
    var statuses: [String: Int]
}
