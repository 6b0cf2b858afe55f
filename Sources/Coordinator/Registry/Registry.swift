import DePINProtocol
import Ed25519
import Foundation
import Synchronization

/// The coordinator's view of its miners: registration and heartbeats (signed by each node's
/// key, replays refused), and the route table built from them and the stake ledger
/// (``StakeLedger``): a change of stake changes routability here.
///
/// The store is the truth; the route table is rebuilt from it by ``reload()`` (at start, and
/// periodically when several coordinators share a database) and kept current by this
/// coordinator's own changes. Routability depends on time (heartbeats age), so ``refresh(now:)``
/// re-evaluates it; a `Service` calls it every second.
package final class Registry: Sendable {
    package let store: any NodeStore & LedgerStore
    package let policy: RoutingPolicy
    /// Every node's stake.
    package let ledger: StakeLedger
    private let now: @Sendable () -> Int64

    private struct State {
        var table: RouteTable
        var nodes: [String: NodeRecord] = [:]
        /// Nodes suspended from every task, with the reason (a poor proof-of-retrievability record).
        var suspended: [String: String] = [:]
        /// The earliest time a routed node's heartbeat ages out (``refresh(now:)`` has nothing to
        /// do before it), and the time of the last refresh.
        var nextExpiry: Int64 = .min
        var refreshed: Int64 = .min
        /// Viewers each edge serves now (heartbeats and routes since).
        var audience = Audience()
        /// The cores a node's viewer capacity counts where capacity probes measured fewer than
        /// it claims (``noteRoutedCores(_:_:)``); a node not named counts its claim.
        var routedCores: [String: Double] = [:]

        /// The cores `node`'s viewer capacity counts.
        func routedCores(of node: NodeRecord) -> Double { routedCores[node.id] ?? Double(node.cores) }

        /// A node routed to now whose heartbeat came at `heartbeat` ages out no sooner than this.
        mutating func routed(heartbeat: Int64, timeout: Int64) { nextExpiry = min(nextExpiry, heartbeat + timeout + 1) }
    }
    private let state: Mutex<State>

    /// - Parameter now: the clock, seconds since 1970 (tests pass their own).
    package init(
        store: any NodeStore & LedgerStore, policy: RoutingPolicy = .init(), bandKilometres: Double = 50,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.policy = policy
        ledger = StakeLedger(store: store)
        self.now = now
        state = Mutex(State(table: RouteTable(bandKilometres: bandKilometres)))
    }

    /// Rebuilds everything from the store.
    package func reload() async throws {
        let nodes = try await store.nodes()
        try await ledger.reload()
        let time = now()
        let stakes = ledger.balances
        state.withLock { state in
            var table = RouteTable(bandKilometres: state.table.bandKilometres)
            for node in nodes {
                table.upsert(Self.edge(node, routable: refusal(node, stake: stakes[node.id] ?? StakeBalance(), now: time, suspended: state.suspended) == nil))
            }
            // The next refresh passes over every node again.
            state = State(
                table: table, nodes: Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0) }), suspended: state.suspended, audience: state.audience,
                routedCores: state.routedCores)
        }
    }

    /// Re-evaluates every node's routability at `now` (heartbeats age).
    ///
    /// ## Performance characteristics
    /// Time only takes routes away (a heartbeat ages out); what gives them (a heartbeat, a
    /// bond, a lifted suspension) re-evaluates its node at once. So the pass over every node
    /// runs only once the first routed node's heartbeat can have aged out (or the clock went
    /// back): with 100,000 nodes a pass took about 130 ms, and ran every second.
    package func refresh(now time: Int64? = nil) {
        let time = time ?? now()
        guard state.withLock({ state in
            defer { state.refreshed = time }
            return time >= state.nextExpiry || time < state.refreshed
        }) else { return }
        // One copy of the balances (shared storage, not copied) instead of a ledger look-up a node.
        let stakes = ledger.balances
        let timeout = policy.heartbeatTimeout
        state.withLock { state in
            state.nextExpiry = .max
            for node in state.nodes.values {
                let routable = refusal(node, stake: stakes[node.id] ?? StakeBalance(), now: time, suspended: state.suspended) == nil
                if state.table.edge(node.id)?.routable != routable { state.table.setRoutable(node.id, routable) }
                if routable { state.routed(heartbeat: node.lastHeartbeat, timeout: timeout) }
            }
        }
    }

    // MARK: - Requests from nodes

    /// Registers (or re-registers) the node that signed `body`.
    /// - Throws: ``RegistryError`` saying why it was refused; nothing is written then.
    package func register(body: Data, headers: [String: String], path: String) async throws -> NodeStatus {
        let request: RegistrationRequest
        do { request = try StrictJSON.decode(RegistrationRequest.self, from: body) } catch { throw RegistryError.badRequest("\(error)") }
        guard let key = Data(base64Encoded: request.publicKey), key.count == 32 else {
            throw RegistryError.badRequest("publicKey must be a base64 Ed25519 public key (32 bytes)")
        }
        guard Ed25519Verifier.isAcceptablePublicKey(key) else {
            throw RegistryError.badRequest(
                "publicKey is not a usable Ed25519 key: it must encode a curve point canonically and not one of small order (make one with depin keys generate)")
        }
        let verified = try await verify(headers: headers, method: "POST", path: path, body: body, key: key)
        guard let deviceClass = DeviceClass.named(request.deviceClass) else {
            throw RegistryError.badRequest("deviceClass '\(request.deviceClass)' is not mobile, pc or server")
        }
        let location: GeoPoint
        if let lat = request.latitude, let lon = request.longitude {
            location = GeoPoint(latitude: lat, longitude: lon)
            guard location.isValid else { throw RegistryError.badRequest("latitude/longitude \(lat), \(lon) is not a place on Earth") }
        } else if let region = request.region {
            guard let point = Regions.point(region) else {
                throw RegistryError.badRequest("unknown region '\(region)' (known: \(Regions.table.keys.sorted().joined(separator: ", ")))")
            }
            location = point
        } else {
            throw RegistryError.badRequest("give latitude and longitude, or a region")
        }
        guard let url = URL(string: request.url), ["https", "http"].contains(url.scheme ?? ""), url.host != nil else {
            throw RegistryError.badRequest("url '\(request.url)' is not an https:// or http:// URL")
        }
        guard request.cores > 0, request.cores <= 4096, request.ramGB > 0, request.ramGB < 1e6, request.mbps >= 0, request.mbps < 1e7,
            request.diskGB >= 0, request.diskGB < 1e9
        else { throw RegistryError.badRequest("cores, ramGB, mbps and diskGB must be positive and plausible") }
        if let short = deviceClass.shortfall(request) { throw RegistryError.refused(short) }
        let stake = try await ledger.balance(of: verified.node)
        if let short = deviceClass.stakeShortfall(bonded: stake.bonded) { throw RegistryError.refused(short) }
        if stake.slashed > 0 { throw RegistryError.refused("node \(verified.node) has been slashed and may not register") }

        let time = now()
        let registeredAt = state.withLock { $0.nodes[verified.node]?.registeredAt } ?? time
        let node = NodeRecord(
            id: verified.node, publicKey: request.publicKey, deviceClass: deviceClass.name, cores: request.cores, ramGB: request.ramGB,
            mbps: request.mbps, gpu: request.gpu, diskGB: request.diskGB, ssd: request.ssd, latitude: location.latitude,
            longitude: location.longitude, url: request.url, registeredAt: registeredAt, lastHeartbeat: time,
            transcodes: deviceClass.tasks.contains(.transcoding) && (request.transcodes ?? true))
        try await store.saveNode(node)
        return remember(node, stake: stake, at: time)
    }

    /// Records a signed heartbeat from a registered node.
    package func heartbeat(body: Data, headers: [String: String], path: String) async throws -> NodeStatus {
        let request: HeartbeatRequest
        do { request = try StrictJSON.decode(HeartbeatRequest.self, from: body) } catch { throw RegistryError.badRequest("\(error)") }
        if let problem = request.problem { throw RegistryError.badRequest(problem) }
        let known = try await authenticate(body: body, headers: headers, path: path)
        let time = now()
        guard try await store.recordHeartbeat(
            Heartbeat(node: known.id, at: time, load: request.load, freeCache: request.freeCacheBytes, healthy: request.healthy))
        else { throw RegistryError.unauthorized("node \(known.id) is not registered") }
        var node = known
        node.lastHeartbeat = time
        node.load = request.load
        node.freeCache = request.freeCacheBytes
        node.healthy = request.healthy
        // (An edge that does not report viewers counts as having none but those routed to it since.)
        state.withLock { $0.audience.report(node.id, titles: request.viewers ?? [:], at: time) }
        return remember(node, stake: try await ledger.balance(of: node.id), at: time)
    }

    /// The registered node that signed a `POST` to `path` (see ``SignedRequest``).
    /// - Parameter onceOnly: refuse a request whose nonce was seen (a replay). Off only where
    ///   a replay is harmless by construction: claims are counted once by claim id, so a replayed
    ///   claims request only gets the same answer again, and its nonce need not be stored.
    /// - Throws: ``RegistryError`` when the sender is unknown, the signature wrong or the
    ///   request a replay.
    package func authenticate(body: Data, headers: [String: String], path: String, onceOnly: Bool = true) async throws -> NodeRecord {
        let claimed = headers.first { SignedRequest.sameName($0.key, SignedRequest.nodeHeader) }?.value ?? ""
        guard let known = try await node(claimed) else {
            throw RegistryError.unauthorized("node '\(claimed.prefix(64))' is not registered")
        }
        guard let key = Data(base64Encoded: known.publicKey) else { throw StoreFailure.corrupt("node \(known.id) has a bad key") }
        _ = try await verify(headers: headers, method: "POST", path: path, body: body, key: key, onceOnly: onceOnly)
        return known
    }

    /// Appends a ledger event (from the admin API, or the coordinator's own slashing) if the
    /// staking rules allow it (``StakeLedger/record(_:)``), and routes the node by its new
    /// balance.
    package func record(_ event: LedgerEvent) async throws -> StakeBalance {
        let balance = try await ledger.record(event)
        let time = now()
        state.withLock { state in
            if let node = state.nodes[event.node] {
                let routable = refusal(node, stake: balance, now: time, suspended: state.suspended) == nil
                state.table.setRoutable(node.id, routable)
                if routable { state.routed(heartbeat: node.lastHeartbeat, timeout: policy.heartbeatTimeout) }
            }
        }
        return balance
    }

    // MARK: - Look-ups

    /// The best edges for a viewer, with their URLs: the route table's order, except that edges
    /// serving their viewer capacity (``Audience``, ``viewerCapacity(of:)``) go
    /// after those with room, looked up with a few more so one with room can take their place.
    package func route(content: String, from viewer: GeoPoint, limit: Int) -> [RoutedEdge] {
        state.withLock { state in
            let since = now() - policy.heartbeatTimeout
            func full(_ id: String) -> Bool {
                guard let node = state.nodes[id], let audience = state.audience.current(id, since: since) else { return false }
                return audience.estimate() >= policy.viewerCapacity(cores: state.routedCores(of: node))
            }
            var routes = state.table.route(content: content, from: viewer, limit: limit)
            if routes.contains(where: { full($0.id) }) {
                let wider = state.table.route(content: content, from: viewer, limit: min(limit + 8, 50))
                routes = Array((wider.filter { !full($0.id) } + wider.filter { full($0.id) }).prefix(limit))
            }
            return routes.compactMap { route in
                state.nodes[route.id].map { RoutedEdge(id: route.id, url: $0.url, distanceKilometres: route.distance) }
            }
        }
    }

    /// Viewers `node` serves at once before route answers prefer edges with room: its cores as
    /// routed (``noteRoutedCores(_:_:)``) times ``RoutingPolicy/viewersPerCore``.
    package func viewerCapacity(of node: NodeRecord) -> Int {
        policy.viewerCapacity(cores: state.withLock { $0.routedCores(of: node) })
    }

    /// The cores `node`'s viewer capacity counts from now: what capacity probes credit it with
    /// (``CapacityPolicy/routed(claimed:best:)``); nil counts its claim.
    package func noteRoutedCores(_ node: String, _ cores: Double?) {
        state.withLock { $0.routedCores[node] = cores }
    }

    /// A viewer of `content` was given a route whose first edge is `node`: counted in its
    /// audience until its next heartbeat reports it.
    package func noteViewer(of content: String, at node: String) {
        let time = now()
        state.withLock { $0.audience.routed(node, content: content, at: time, forgettingBefore: time - policy.heartbeatTimeout) }
    }

    /// Viewers `node` serves now (estimated), by title; nil when nothing was counted within the
    /// heartbeat timeout.
    package func audience(of node: String) -> Audience.Edge? {
        let since = now() - policy.heartbeatTimeout
        return state.withLock { $0.audience.current(node, since: since) }
    }

    /// Viewers of `content` now at each edge that has some (estimated), by edge id.
    package func watching(_ content: String) -> [String: Int] {
        let since = now() - policy.heartbeatTimeout
        return state.withLock { $0.audience.watching(content, since: since) }
    }

    /// Nodes that may take `task` now (class, stake, health, heartbeat, load), as hosting
    /// candidates weighted by their resource score.
    package func candidates(for task: DeviceClass.Task, now time: Int64? = nil) -> [HostingPolicy.Candidate] {
        let time = time ?? now()
        let stakes = ledger.balances
        return state.withLock { state in
            state.nodes.values.filter { refusal($0, stake: stakes[$0.id] ?? StakeBalance(), now: time, for: task, suspended: state.suspended) == nil }
                .sorted { $0.id < $1.id }
                .map { HostingPolicy.Candidate(id: $0.id, location: GeoPoint(latitude: $0.latitude, longitude: $0.longitude), capacity: Self.capacity($0)) }
        }
    }

    /// Every node this coordinator knows, with its stake and whether (or why not) it may take
    /// its class's main task now (delivery; hosting for a class that does not deliver), from
    /// memory only: no store read, nothing written. By id.
    package func statuses() -> [NodeStatus] {
        let time = now()
        let stakes = ledger.balances
        return state.withLock { state in
            state.nodes.values.sorted { $0.id < $1.id }.map { node in
                let main = DeviceClass.named(node.deviceClass)?.tasks.contains(.delivery) == false ? DeviceClass.Task.hosting : .delivery
                let stake = stakes[node.id] ?? StakeBalance()
                return NodeStatus(node: node, stake: stake, refusal: refusal(node, stake: stake, now: time, for: main, suspended: state.suspended))
            }
        }
    }

    /// The node if it may take `task` now; nil if unknown or not eligible.
    package func eligible(_ id: String, for task: DeviceClass.Task) -> NodeRecord? {
        let time = now()
        return state.withLock { state in
            guard let node = state.nodes[id], refusal(node, now: time, for: task, suspended: state.suspended) == nil
            else { return nil }
            return node
        }
    }

    /// Slashes `fraction` of the node's class stake (no more than it has bonded) for a proven
    /// fault, once: a node slashed before is left as it is.
    /// - Returns: the amount taken, or nil when nothing was.
    @discardableResult
    package func slash(_ node: String, fraction: Double, reason: String, evidence: String) async throws -> Int64? {
        guard let record = known(node), let deviceClass = DeviceClass.named(record.deviceClass),
            let amount = try await ledger.slashAmount(node, classStake: deviceClass.stake, fraction: fraction)
        else { return nil }
        _ = try await self.record(LedgerEvent(node: node, kind: .slash, amount: amount, reason: reason, evidence: evidence, at: now()))
        return amount
    }

    /// Suspends a node from every task (nil: lifts the suspension).
    package func setSuspension(_ id: String, reason: String?) {
        let time = now()
        state.withLock { state in
            guard state.suspended[id] != reason else { return }
            state.suspended[id] = reason
            if let node = state.nodes[id] {
                let routable = refusal(node, now: time, suspended: state.suspended) == nil
                state.table.setRoutable(id, routable)
                if routable { state.routed(heartbeat: node.lastHeartbeat, timeout: policy.heartbeatTimeout) }
            }
        }
    }

    /// Why `node` may not take `task` now: the routing policy's reason (given `stake`, or its
    /// stake as the ledger remembers it), or its suspension.
    private func refusal(
        _ node: NodeRecord, stake: StakeBalance? = nil, now time: Int64, for task: DeviceClass.Task = .delivery, suspended: [String: String]
    ) -> String? {
        policy.refusal(node, stake: stake ?? ledger.remembered(node.id), now: time, for: task) ?? suspended[node.id]
    }

    /// True when the node's stake has been slashed (as this coordinator knows the ledger).
    package func isSlashed(_ id: String) -> Bool { ledger.isSlashed(id) }

    /// A node as this coordinator knows it (no store read).
    package func known(_ id: String) -> NodeRecord? { state.withLock { $0.nodes[id] } }

    /// A node's registration, stake and whether (or why not) it is routed to (or given `task`).
    package func status(of id: String, for task: DeviceClass.Task = .delivery) async throws -> NodeStatus? {
        guard let node = try await node(id) else { return nil }
        let stake = try await ledger.balance(of: id)
        return NodeStatus(node: node, stake: stake, refusal: refusal(node, stake: stake, now: now(), for: task, suspended: state.withLock { $0.suspended }))
    }

    // MARK: -

    /// A node as this coordinator knows it, or as the store does (another coordinator may
    /// have registered it since the last reload).
    private func node(_ id: String) async throws -> NodeRecord? {
        if let known = state.withLock({ $0.nodes[id] }) { return known }
        return try await store.node(id: id)
    }

    private func verify(headers: [String: String], method: String, path: String, body: Data, key: Data, onceOnly: Bool = true) async throws -> SignedRequest.Verified {
        let verified: SignedRequest.Verified
        do {
            verified = try SignedRequest.verify(headers: headers, method: method, path: path, body: body, publicKey: key, now: now())
        } catch {
            throw RegistryError.unauthorized("\(error)")
        }
        if onceOnly {
            guard try await store.useNonce(node: verified.node, nonce: verified.nonce, at: verified.timestamp) else {
                throw RegistryError.replayed("nonce \(verified.nonce) was already used by node \(verified.node): a replayed request")
            }
        }
        return verified
    }

    private func remember(_ node: NodeRecord, stake: StakeBalance, at time: Int64) -> NodeStatus {
        let suspended = state.withLock { $0.suspended }
        let refusal = self.refusal(node, stake: stake, now: time, suspended: suspended)
        state.withLock { state in
            state.nodes[node.id] = node
            state.table.upsert(Self.edge(node, routable: refusal == nil))
            if refusal == nil { state.routed(heartbeat: node.lastHeartbeat, timeout: policy.heartbeatTimeout) }
        }
        return NodeStatus(node: node, stake: stake, refusal: refusal)
    }

    private static func edge(_ node: NodeRecord, routable: Bool) -> RouteTable.Edge {
        RouteTable.Edge(id: node.id, location: GeoPoint(latitude: node.latitude, longitude: node.longitude), capacity: capacity(node), routable: routable)
    }

    /// Capacity for rendezvous weighting: the whitepaper's resource score.
    static func capacity(_ node: NodeRecord) -> Double {
        max(Settlement.resourceScore(cores: Double(node.cores), mbps: node.mbps, ramGB: node.ramGB), 0.1)
    }
}

/// What the registry says about a node.
package struct NodeStatus: Sendable {
    package var node: NodeRecord
    package var stake: StakeBalance
    /// Nil when routed to; otherwise why not.
    package var refusal: String?
}

/// Why the registry refused a request; each maps to one HTTP status.
package struct RegistryError: Error, CustomStringConvertible {
    package enum Code: Sendable {
        /// 400: the request is malformed.
        case badRequest
        /// 401: the signature or the sender is wrong.
        case unauthorized
        /// 409: a replayed request.
        case replayed
        /// 403: well-formed, but the rules say no (class minimums, stake, ledger rules).
        case refused
    }
    package let code: Code
    package let message: String
    package var description: String { message }

    package static func badRequest(_ m: String) -> Self { .init(code: .badRequest, message: m) }
    package static func unauthorized(_ m: String) -> Self { .init(code: .unauthorized, message: m) }
    package static func replayed(_ m: String) -> Self { .init(code: .replayed, message: m) }
    package static func refused(_ m: String) -> Self { .init(code: .refused, message: m) }
}
