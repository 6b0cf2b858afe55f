import DePINProtocol
import Foundation
import ServiceLifecycle
import Synchronization

/// Who hosts, transcodes and delivers what, kept as tasks in the store and handed to edges by
/// their long poll (`POST /v1/tasks`).
///
/// - **Hosting**: when a title is registered, ``HostingPolicy`` picks its hosts among the edges
///   that may host now (class, stake, health), spread across regions; the publisher uploads to
///   them. ``repair(now:)`` (every few seconds) adds hosts when demand raises the replication
///   factor or a host stops being eligible; new hosts copy the title from the hosts that hold it.
/// - **Delivery and transcoding**: a route answer gives each edge it names a delivery task for
///   the title (with its hosts as fill sources), and a transcoding task when the edge
///   transcodes and the title has a ladder; an edge that does not transcode gets the nearest
///   one that does as a source of renditions (and that one a transcoding task). Only an edge
///   with a transcoding task gets a key lease.
///
/// ## Performance characteristics
/// ``noteRoute(content:edges:)`` runs on every route look-up: one lock and set look-ups when
/// the edges already have their tasks; a store write only for a new (edge, title) pair.
package final class TaskBoard: Sendable {
    package let store: any CatalogStore & TaskStore
    package let catalog: Catalog
    let registry: Registry
    package let policy: HostingPolicy
    private let now: @Sendable () -> Int64

    private struct State {
        /// Tasks known to exist.
        var assigned: Set<Assigned> = []
        /// Route look-ups per title, decayed with a half-life of ``demandHalfLife``.
        var demand: [String: Double] = [:]
        /// The hosts each streaming live title is pushed to, as chosen here (in memory: after a
        /// restart its viewers are routed as for any title).
        var live: [String: [String]] = [:]
        var demandDecayedAt: Int64
        /// Bumped per node when it gets a task, to wake its long poll.
        var changes: [String: Int] = [:]
        /// Each node's `changes` when its last poll answered: a wake after that answer (a
        /// challenge issued between two polls) ends the next poll at once.
        var answered: [String: Int] = [:]
        /// Long polls waiting for a change, per node.
        var waiters: [String: [ObjectIdentifier: PollWaiter]] = [:]

        /// Counts a change for `node` and returns the polls to wake (outside the lock).
        mutating func changed(_ node: String) -> [PollWaiter] {
            changes[node, default: 0] += 1
            return waiters.removeValue(forKey: node).map { Array($0.values) } ?? []
        }
    }
    private struct Assigned: Hashable {
        var kind: TaskRecord.Kind
        var node: String
        var content: String
    }
    private let state: Mutex<State>
    /// Seconds for demand to halve.
    static let demandHalfLife = 600.0

    /// - Parameter catalog: the coordinator's shared catalog; nil makes one over `store`.
    package init(
        store: any CatalogStore & TaskStore, registry: Registry, policy: HostingPolicy, catalog: Catalog? = nil,
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.catalog = catalog ?? Catalog(store: store, now: now)
        self.registry = registry
        self.policy = policy
        self.now = now
        state = Mutex(State(demandDecayedAt: now()))
    }

    // MARK: - Assigning

    /// The hosts of a live title: the `count` hosting edges nearest its ingest, none of
    /// `excluding`; the hosts in `gone` no longer count as its hosts (delivery edges stop
    /// filling from them). No hosting task is given: a live title is pushed to its hosts as it
    /// is made, and its recording gets hosting tasks when it is registered.
    package func liveHosts(for content: String, near place: GeoPoint, count: Int? = nil, excluding: Set<String> = [], gone: Set<String> = []) -> [NodeRecord] {
        let chosen = registry.candidates(for: .hosting, now: now())
            .filter { !excluding.contains($0.id) }
            .sorted { place.distance(to: $0.location) < place.distance(to: $1.location) }
            .prefix(count ?? policy.replicas)
            .compactMap { registry.known($0.id) }
        state.withLock { state in
            state.live[content, default: []].removeAll { gone.contains($0) }
            state.live[content, default: []] += chosen.map(\.id)
        }
        return chosen
    }

    /// The hosts a streaming live title is pushed to (empty for any other title).
    package func liveHostIDs(_ content: String) -> [String] { state.withLock { $0.live[content] ?? [] } }

    /// The live title ended: its viewers are routed as for any title from now on.
    package func endLive(_ content: String) { _ = state.withLock { $0.live.removeValue(forKey: content) } }

    /// Chooses the hosts of a newly registered title and gives each a hosting task.
    /// - Returns: the chosen hosts (empty when no edge may host now: ``repair(now:)`` retries).
    package func assignHosts(_ manifest: ContentManifest) async throws -> [NodeRecord] {
        catalog.remember(manifest)
        let time = now()
        let chosen = policy.choose(policy.replicas, content: manifest.id, from: registry.candidates(for: .hosting, now: time))
        var hosts: [NodeRecord] = []
        for candidate in chosen {
            _ = try await add(TaskRecord(node: candidate.id, content: manifest.id, kind: .hosting, createdAt: time))
            if let node = registry.known(candidate.id) { hosts.append(node) }
        }
        return hosts
    }

    /// Records a route look-up for `content` and gives the edges named in its answer their
    /// delivery (and, where they transcode, transcoding) tasks for the title.
    package func noteRoute(content: String, edges: [RoutedEdge]) async {
        let time = now()
        let pending = state.withLock { state in
            state.demand[content, default: 0] += 1
            return edges.filter { !state.assigned.contains(Assigned(kind: .delivery, node: $0.id, content: content)) }
        }
        guard !pending.isEmpty else { return }
        // A live title is delivered from its hosts as it is made: delivery tasks only, nearest to
        // the hosts first, so an edge that may fill from another (``liveRelays(of:for:hosts:)``)
        // finds that one's task there when its own task is polled.
        let hostIDs = liveHostIDs(content)
        if !hostIDs.isEmpty {
            let live = hostIDs.compactMap { registry.known($0) }
            func toHosts(_ edge: RoutedEdge) -> Double {
                guard let node = registry.known(edge.id) else { return .infinity }
                let place = GeoPoint(latitude: node.latitude, longitude: node.longitude)
                return live.map { place.distance(to: GeoPoint(latitude: $0.latitude, longitude: $0.longitude)) }.min() ?? .infinity
            }
            for edge in pending.sorted(by: { toHosts($0) < toHosts($1) }) {
                _ = try? await add(TaskRecord(node: edge.id, content: content, kind: .delivery, createdAt: time))
            }
            return
        }
        // Best effort on the route path: a title the catalog cannot read (its error reaches
        // whoever asks for the title itself) gets no tasks from here.
        guard let title = try? await catalog.title(content) else { return }
        for edge in pending {
            _ = try? await add(TaskRecord(node: edge.id, content: content, kind: .delivery, createdAt: time))
            guard !title.renditions.isEmpty else { continue }
            if registry.eligible(edge.id, for: .transcoding) != nil {
                _ = try? await add(TaskRecord(node: edge.id, content: content, kind: .transcoding, createdAt: time))
            } else if let node = registry.known(edge.id) {
                // Renditions come from the nearest edge that makes them.
                let place = GeoPoint(latitude: node.latitude, longitude: node.longitude)
                if let nearest = registry.candidates(for: .transcoding, now: time).min(by: { place.distance(to: $0.location) < place.distance(to: $1.location) }) {
                    _ = try? await add(TaskRecord(node: nearest.id, content: content, kind: .transcoding, createdAt: time))
                }
            }
        }
    }

    /// Adds hosts where a title has fewer eligible hosts than its demand asks for (a host
    /// left, was slashed or stopped heartbeating; or the title got popular).
    /// - Returns: the tasks added.
    @discardableResult
    package func repair(now time: Int64? = nil) async throws -> [TaskRecord] {
        let time = time ?? now()
        let demand = state.withLock { state in
            let factor = pow(0.5, Double(time - state.demandDecayedAt) / Self.demandHalfLife)
            for (content, value) in state.demand { state.demand[content] = value * factor < 0.5 ? nil : value * factor }
            state.demandDecayedAt = time
            return state.demand
        }
        var added: [TaskRecord] = []
        let candidates = registry.candidates(for: .hosting, now: time)
        for content in try await store.contentIDs() {
            let hosting = try await store.tasks(content: content).filter { $0.kind == .hosting }
            let eligible = hosting.compactMap { registry.eligible($0.node, for: .hosting) }
            let target = policy.target(lookups: Int(demand[content] ?? 0))
            guard eligible.count < target else { continue }
            let taken = Set(hosting.map(\.node))
            let places = eligible.map { GeoPoint(latitude: $0.latitude, longitude: $0.longitude) }
            let chosen = policy.choose(target - eligible.count, content: content, from: candidates.filter { !taken.contains($0.id) }, existing: places)
            for candidate in chosen {
                if let task = try await add(TaskRecord(node: candidate.id, content: content, kind: .hosting, createdAt: time)) { added.append(task) }
            }
        }
        return added
    }

    // MARK: - What edges ask

    /// A node's tasks, once it has one newer than `after`, something else new (``wake(_:)``),
    /// or `wait` has passed (a long poll).
    /// Wakes at once for tasks this coordinator assigns (a continuation, not a timer), and
    /// re-reads the store every ``storeRereadInterval`` for those another coordinator on the
    /// same database assigns. Answers at once when the coordinator is shutting down, so a long
    /// poll never holds a restart back.
    package func poll(node: String, after: Int64, wait: Duration) async throws -> [TaskRecord] {
        let deadline = ContinuousClock.now + wait
        // Counted from the node's last answer, not from this request: a wake between two polls
        // (or between two store reads) must still end the wait.
        let seen = state.withLock { $0.answered[node] ?? $0.changes[node, default: 0] }
        // What the caller reads after this returns (the open challenges) holds everything woken
        // for until now; a task added since has a newer sequence and ends the next poll.
        let answered = { self.state.withLock { $0.answered[node] = $0.changes[node, default: 0] } }
        while true {
            let tasks = try await store.tasks(node: node, after: 0)
            if tasks.contains(where: { ($0.sequence ?? 0) > after }) || ContinuousClock.now >= deadline || Task.isShuttingDownGracefully {
                answered()
                return tasks
            }
            let limit = min(Self.storeRereadInterval, deadline - ContinuousClock.now)
            if await changed(node, since: seen, within: limit) {
                // Something new for this node (a task or a challenge): answer now.
                answered()
                return try await store.tasks(node: node, after: 0)
            }
            try Task.checkCancellation()
        }
    }

    /// How often a waiting long poll reads the store for tasks other coordinators assigned.
    static let storeRereadInterval = Duration.seconds(2)

    /// Waits until `node` has a change past `seen`, `limit` passes, the task is cancelled or
    /// the coordinator shuts down; true for a change.
    private func changed(_ node: String, since seen: Int, within limit: Duration) async -> Bool {
        let waiter = PollWaiter()
        let waiting = state.withLock { state -> Bool in
            guard state.changes[node, default: 0] == seen else { return false }
            state.waiters[node, default: [:]][ObjectIdentifier(waiter)] = waiter
            return true
        }
        guard waiting else { return true }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await waiter.wait() }
                    group.addTask {
                        try? await Task.sleep(for: limit)
                        waiter.resume()
                    }
                    await group.next()
                    group.cancelAll()
                }
            } onCancel: {
                waiter.resume()
            }
        } onGracefulShutdown: {
            waiter.resume()
        }
        return state.withLock { state in
            _ = state.waiters[node]?.removeValue(forKey: ObjectIdentifier(waiter))
            if state.waiters[node]?.isEmpty == true { state.waiters[node] = nil }
            return state.changes[node, default: 0] != seen
        }
    }

    /// Wakes `node`'s long poll (a challenge was issued for it).
    package func wake(_ node: String) {
        for waiter in state.withLock({ $0.changed(node) }) { waiter.resume() }
    }

    /// Records that `node` holds the whole of `content` (its hosting task is done).
    /// - Returns: false when the node has no hosting task for it.
    package func hosted(node: String, content: String) async throws -> Bool {
        try await store.completeTask(node: node, content: content, kind: .hosting, at: now())
    }

    /// Hosts that hold the whole title and may host now (a streaming live title's: the hosts it
    /// is pushed to), nearest to `place` first.
    package func sources(of content: String, near place: GeoPoint?) async throws -> [NodeRecord] {
        let live = liveHostIDs(content)
        let hosts =
            live.isEmpty
            ? try await store.tasks(content: content).filter { $0.kind == .hosting && $0.doneAt != nil }.compactMap { registry.eligible($0.node, for: .hosting) }
            : live.compactMap { registry.eligible($0, for: .hosting) }
        guard let place else { return hosts }
        return hosts.sorted {
            place.distance(to: GeoPoint(latitude: $0.latitude, longitude: $0.longitude))
                < place.distance(to: GeoPoint(latitude: $1.latitude, longitude: $1.longitude))
        }
    }

    /// Delivery edges of a streaming title that `node` may fill it from before the hosts (tiers):
    /// those nearer to it than any host and nearer to the hosts than it is, so fills always run
    /// towards the hosts and never in a circle; nearest first, at most two.
    /// - Parameter hosts: the title's hosts.
    package func liveRelays(of content: String, for node: NodeRecord, hosts: [NodeRecord]) async throws -> [NodeRecord] {
        let live = liveHostIDs(content)
        guard !hosts.isEmpty, !live.isEmpty, !live.contains(node.id) else { return [] }
        func place(_ record: NodeRecord) -> GeoPoint { GeoPoint(latitude: record.latitude, longitude: record.longitude) }
        func toHosts(_ record: NodeRecord) -> Double { hosts.map { place(record).distance(to: place($0)) }.min() ?? .infinity }
        let here = place(node), mine = toHosts(node)
        var seen = Set(hosts.map(\.id) + [node.id])
        return try await store.tasks(content: content)
            .filter { $0.kind == .delivery && seen.insert($0.node).inserted }
            .compactMap { registry.eligible($0.node, for: .delivery) }
            .filter { here.distance(to: place($0)) < mine && toHosts($0) < mine }
            .sorted { here.distance(to: place($0)) < here.distance(to: place($1)) }
            .prefix(2).map { $0 }
    }

    /// Edges with a transcoding task for `content` that may transcode now, nearest to `place` first.
    package func transcoders(of content: String, near place: GeoPoint) async throws -> [NodeRecord] {
        try await store.tasks(content: content).filter { $0.kind == .transcoding }
            .compactMap { registry.eligible($0.node, for: .transcoding) }
            .sorted {
                place.distance(to: GeoPoint(latitude: $0.latitude, longitude: $0.longitude))
                    < place.distance(to: GeoPoint(latitude: $1.latitude, longitude: $1.longitude))
            }
    }

    /// True when `node` has a transcoding task for `content` and may transcode now: the
    /// condition of a key lease.
    package func mayTranscode(node: String, content: String) async throws -> Bool {
        guard registry.eligible(node, for: .transcoding) != nil else { return false }
        return try await store.tasks(content: content).contains { $0.node == node && $0.kind == .transcoding }
    }

    /// The renditions a transcoding edge makes for `content`.
    func renditions(of content: String) async throws -> [String] { try await catalog.title(content)?.renditions ?? [] }

    // MARK: -

    private func add(_ task: TaskRecord) async throws -> TaskRecord? {
        let added = try await store.addTask(task)
        let woken = state.withLock { state -> [PollWaiter] in
            state.assigned.insert(Assigned(kind: task.kind, node: task.node, content: task.content))
            return added != nil ? state.changed(task.node) : []
        }
        for waiter in woken { waiter.resume() }
        return added
    }
}
