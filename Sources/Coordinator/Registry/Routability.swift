import DePINProtocol

/// Whether a registered node may be sent viewers now, and if not, why.
package struct RoutingPolicy: Sendable, Equatable {
    /// Seconds without a heartbeat after which a node stops being routed to.
    package var heartbeatTimeout: Int64 = 30
    /// Load (0 to 1) at or above which a node gets no new viewers.
    package var maximumLoad: Double = 0.9
    /// Viewers an edge serves at once per core it is routed by (claimed, or as measured when
    /// capacity probes measured less); past that, route answers put it after edges with room
    /// (``viewerCapacity(cores:)``).
    package var viewersPerCore = 250

    package init(heartbeatTimeout: Int64 = 30, maximumLoad: Double = 0.9, viewersPerCore: Int = 250) {
        self.heartbeatTimeout = heartbeatTimeout
        self.maximumLoad = maximumLoad
        self.viewersPerCore = viewersPerCore
    }

    /// Viewers an edge with `cores` serves at once before route answers prefer edges with room.
    package func viewerCapacity(cores: Double) -> Int { max(1, Int((cores * Double(viewersPerCore)).rounded(.down))) }

    /// Nil when `node` may be given `task` at `now` (for delivery: routed to viewers);
    /// otherwise the first reason it may not.
    package func refusal(_ node: NodeRecord, stake: StakeBalance, now: Int64, for task: DeviceClass.Task = .delivery) -> String? {
        guard let deviceClass = DeviceClass.named(node.deviceClass) else { return "unknown class \(node.deviceClass)" }
        guard deviceClass.tasks.contains(task) else {
            return task == .delivery ? "class \(deviceClass.name) does not deliver to viewers" : "class \(deviceClass.name) does not do \(task.rawValue)"
        }
        if task == .transcoding && !node.transcodes { return "transcoding is off on this edge" }
        if stake.slashed > 0 { return "slashed" }
        if let short = deviceClass.stakeShortfall(bonded: stake.bonded) { return short }
        guard node.healthy else { return "reported unhealthy" }
        if now - node.lastHeartbeat > heartbeatTimeout { return "no heartbeat for \(now - node.lastHeartbeat) s" }
        if node.load >= maximumLoad { return "load \(node.load) is at its limit" }
        return nil
    }
}

/// Named places a viewer or an edge may give instead of coordinates.
package enum Regions {
    package static let table: [String: GeoPoint] = [
        "us-east": GeoPoint(latitude: 39.04, longitude: -77.49), "us-west": GeoPoint(latitude: 37.34, longitude: -121.89),
        "us-central": GeoPoint(latitude: 41.88, longitude: -87.63), "ca-central": GeoPoint(latitude: 43.65, longitude: -79.38),
        "sa-east": GeoPoint(latitude: -23.55, longitude: -46.63), "eu-west": GeoPoint(latitude: 53.35, longitude: -6.26),
        "eu-central": GeoPoint(latitude: 50.11, longitude: 8.68), "eu-north": GeoPoint(latitude: 59.33, longitude: 18.07),
        "eu-south": GeoPoint(latitude: 45.46, longitude: 9.19), "uk": GeoPoint(latitude: 51.51, longitude: -0.13),
        "me-central": GeoPoint(latitude: 25.20, longitude: 55.27), "af-south": GeoPoint(latitude: -26.20, longitude: 28.05),
        "af-west": GeoPoint(latitude: 6.52, longitude: 3.38), "ap-south": GeoPoint(latitude: 19.08, longitude: 72.88),
        "ap-southeast": GeoPoint(latitude: 1.35, longitude: 103.82), "ap-east": GeoPoint(latitude: 22.32, longitude: 114.17),
        "ap-northeast": GeoPoint(latitude: 35.68, longitude: 139.69), "ap-northeast-2": GeoPoint(latitude: 37.57, longitude: 126.98),
        "oceania": GeoPoint(latitude: -33.87, longitude: 151.21),
    ]

    /// The point for a region name (case-insensitive), or nil.
    package static func point(_ name: String) -> GeoPoint? { table[name.lowercased()] }
}
