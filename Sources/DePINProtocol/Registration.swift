/// What an edge sends to register (signed with its node key; see ``SignedRequest``).
public struct RegistrationRequest: Codable, Sendable, Equatable, KnownFields {
    /// Raw Ed25519 public key, base64; its hash is the node id in the signature headers.
    public var publicKey: String
    /// `mobile`, `pc` or `server`.
    public var deviceClass: String
    public var cores: Int
    public var ramGB: Double
    public var mbps: Double
    public var gpu: Bool
    public var diskGB: Double
    public var ssd: Bool
    /// Either a position or a region name from the coordinator's table.
    public var latitude: Double?
    public var longitude: Double?
    public var region: String?
    /// Where viewers reach the edge (`https://host:port`).
    public var url: String
    /// Whether the edge makes renditions on demand (absent: what its class does).
    public var transcodes: Bool?

    public static let knownFields: Set<String> = [
        "publicKey", "deviceClass", "cores", "ramGB", "mbps", "gpu", "diskGB", "ssd", "latitude", "longitude", "region", "url", "transcodes",
    ]

    public init(
        publicKey: String, deviceClass: String, cores: Int, ramGB: Double, mbps: Double, gpu: Bool, diskGB: Double, ssd: Bool,
        latitude: Double? = nil, longitude: Double? = nil, region: String? = nil, url: String, transcodes: Bool? = nil
    ) {
        self.publicKey = publicKey
        self.deviceClass = deviceClass
        self.cores = cores
        self.ramGB = ramGB
        self.mbps = mbps
        self.gpu = gpu
        self.diskGB = diskGB
        self.ssd = ssd
        self.latitude = latitude
        self.longitude = longitude
        self.region = region
        self.url = url
        self.transcodes = transcodes
    }
}

/// What an edge reports between registrations (signed).
public struct HeartbeatRequest: Codable, Sendable, Equatable, KnownFields {
    /// 0 (idle) to 1 (at its limit).
    public var load: Double
    public var freeCacheBytes: Int64
    public var healthy: Bool
    /// Distinct viewer sessions it served each title since its previous heartbeat (titles with
    /// none are left out; at most ``maxAudienceTitles``, the largest). Nil from an edge that
    /// does not report them.
    public var viewers: [String: Int]?

    /// Titles a heartbeat's ``viewers`` may name.
    public static let maxAudienceTitles = 256
    public static let knownFields: Set<String> = ["load", "freeCacheBytes", "healthy", "viewers"]

    public init(load: Double, freeCacheBytes: Int64, healthy: Bool, viewers: [String: Int]? = nil) {
        self.load = load
        self.freeCacheBytes = freeCacheBytes
        self.healthy = healthy
        self.viewers = viewers
    }

    /// Why the request cannot be taken, or nil.
    public var problem: String? {
        guard (0...1).contains(load), freeCacheBytes >= 0 else { return "load must be 0 to 1 and freeCacheBytes not negative" }
        if let viewers {
            guard viewers.count <= Self.maxAudienceTitles else { return "viewers names \(viewers.count) titles; at most \(Self.maxAudienceTitles)" }
            if let bad = viewers.first(where: { !Identifier.isValid($0.key) || !(1...10_000_000).contains($0.value) }) {
                return "viewers: '\(bad.key.prefix(64))': \(bad.value) is not a content id with 1 to 10,000,000 sessions"
            }
        }
        return nil
    }
}
