import Crypto
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The edge's content store: objects on disk under a byte budget, a bounded hot set in memory,
/// misses filled from upstream origins one fill per object however many requests wait.
///
/// - Fills go to a temporary file and are published by an atomic rename only after their length
///   and (when an origin vouched for one) SHA-256 check out; a crash leaves an orphan that the
///   next start deletes, never a torn object.
/// - Origins are tried in order; an origin that fails mid-object is followed by the next one from
///   the byte where it stopped.
/// - Eviction is ``S3FIFOPolicy``, by bytes on disk (body plus header).
///
/// `Annotation` is what the server derives from one version of an object (its headers), kept with
/// the object so that a hit costs one lookup (``annotate(_:sha256:with:)``).
///
/// Run it as a `Service`: fills run in its task group and stop on graceful shutdown.
/// Thread-safe: one `Mutex` guards the index, the policy and the in-flight fills.
package final class EdgeCache<Annotation: Sendable>: Service, Sendable {
    /// Settings of the cache; every one has a default a small server can live with.
    package struct Configuration: Sendable {
        /// Folder for objects; made if missing.
        package var directory: String
        /// Disk budget in bytes (bodies plus a 2 KiB header per object).
        package var capacity: Int
        /// Memory budget for whole objects kept in memory to serve without disk reads.
        package var memoryCapacity: Int = 256 << 20
        /// Objects up to this size may be kept in memory.
        package var memoryObjectLimit: Int = 4 << 20
        /// Objects larger than this are refused (the origin is cut off when it says or sends more).
        package var maxObjectSize: Int = 1 << 30
        /// Bytes per disk read when streaming.
        package var readChunkSize: Int = 64 << 10
        /// How long an origin that failed is tried last (nginx's `fail_timeout`).
        package var originDownFor: Duration = .seconds(10)
        /// Asked, for each finished fill of at most 1 MiB, whether the object is kept; a `false`
        /// (a live playlist, which changes) serves the waiting requests and then drops it.
        package var isKept: @Sendable (CacheKey, ByteBuffer) -> Bool = { _, _ in true }

        package init(directory: String, capacity: Int) {
            self.directory = directory
            self.capacity = capacity
        }
    }

    /// A stored object.
    package struct Entry: Sendable {
        package var metadata: ObjectMetadata
        package var path: String
        /// The whole body, while the object is in the memory hot set.
        package var memory: ByteBuffer?
        /// What the server derived from this object version (its headers), kept with it so a hit
        /// costs one lookup; see ``annotate(_:sha256:with:)``.
        package var annotation: Annotation?
        /// Reads served from disk since it was stored: 0, 1, or `.max` once one read it whole for
        /// the hot set.
        var diskReads: UInt8 = 0
    }

    /// What a lookup found: a stored object, or a fill to follow.
    package enum Lookup: Sendable {
        case stored(Entry)
        case filling(Fill)
    }

    /// Counts for `/healthz` and `/metrics`.
    package struct Statistics: Sendable, Encodable {
        package var objects: Int
        package var usedBytes: Int
        package var capacity: Int
        package var memoryBytes: Int
        package var fillsInFlight: Int
        /// Look-ups since start: answered from the store, joined to a fill in flight, missed.
        package var hits = 0
        package var joined = 0
        package var misses = 0
        /// Fills since start: stored, answered 404 by every origin, failed; objects evicted.
        package var filled = 0
        package var fillsNotFound = 0
        package var fillsFailed = 0
        package var evictions = 0
    }

    struct State {
        var index: [CacheKey: Entry] = [:]
        var policy: S3FIFOPolicy<CacheKey>
        var used = 0
        var inflight: [CacheKey: Fill] = [:]
        var memoryPolicy: S3FIFOPolicy<CacheKey>
        var memoryUsed = 0
    }

    package let configuration: Configuration
    let store: ObjectStore
    let origins: [any Origin]
    let producer: (any Producer)?
    let logger: Logger
    let state: Mutex<State>
    private let jobs: AsyncStream<Fill>
    private let jobSink: AsyncStream<Fill>.Continuation
    let counters = Counters()
    let originHealth: OriginHealth

    /// Metrics made once: creating one looks it up in the registry under a lock.
    struct Counters: Sendable {
        let hits = TalliedCounter(label: "depin_cache_lookups_total", dimensions: [("result", "hit")])
        let joined = TalliedCounter(label: "depin_cache_lookups_total", dimensions: [("result", "joined")])
        let misses = TalliedCounter(label: "depin_cache_lookups_total", dimensions: [("result", "miss")])
        let stored = TalliedCounter(label: "depin_cache_fills_total", dimensions: [("result", "stored")])
        let notFound = TalliedCounter(label: "depin_cache_fills_total", dimensions: [("result", "not_found")])
        let failed = TalliedCounter(label: "depin_cache_fills_total", dimensions: [("result", "failed")])
        let evictions = TalliedCounter(label: "depin_cache_evictions_total")
        let fillSeconds = Timer(label: "depin_cache_fill_seconds")
        let objects = Gauge(label: "depin_cache_objects")
        let used = Gauge(label: "depin_cache_used_bytes")
        let memory = Gauge(label: "depin_cache_memory_bytes")
    }

    /// Opens the store: creates folders, deletes orphaned fills and unreadable objects, and
    /// rebuilds the index from what is on disk (oldest first into the eviction policy).
    /// - Throws: ``StoreError`` when the folder cannot be used.
    package init(configuration: Configuration, origins: [any Origin], producer: (any Producer)? = nil, logger: Logger) throws(StoreError) {
        self.configuration = configuration
        originHealth = OriginHealth(downFor: configuration.originDownFor)
        self.store = ObjectStore(root: configuration.directory)
        self.origins = origins
        self.producer = producer
        self.logger = logger
        var state = State(
            policy: S3FIFOPolicy(capacity: configuration.capacity),
            memoryPolicy: S3FIFOPolicy(capacity: configuration.memoryCapacity)
        )
        let (found, removed) = try store.open()
        var evicted: [String] = []
        for object in found.sorted(by: { $0.metadata.storedAt < $1.metadata.storedAt }) {
            let parts = object.metadata.key.split(separator: "/", maxSplits: 1)
            guard parts.count == 2, let key = try? CacheKey(content: String(parts[0]), path: String(parts[1])) else {
                evicted.append(object.path)
                continue
            }
            state.index[key] = Entry(metadata: object.metadata, path: object.path)
            state.policy.insert(key, size: Self.diskSize(object.metadata.length))
            state.used += Self.diskSize(object.metadata.length)
        }
        evicted += Self.evictOverBudget(&state, capacity: configuration.capacity)
        evicted.forEach(store.remove(path:))
        if removed > 0 || !evicted.isEmpty {
            logger.info("cache: removed \(removed) orphaned or unreadable files and \(evicted.count) objects over budget")
        }
        logger.info("cache: \(state.index.count) objects, \(state.used) of \(configuration.capacity) bytes, in \(configuration.directory)")
        self.state = Mutex(state)
        (self.jobs, self.jobSink) = AsyncStream.makeStream(of: Fill.self)
        Gauge(label: "depin_cache_capacity_bytes").record(configuration.capacity)
        self.recordGauges(objects: state.index.count, used: state.used)
    }

    static func diskSize(_ length: Int) -> Int { length + ObjectFileFormat.headerSize }

    /// Runs fills until graceful shutdown; fills still running then are cancelled.
    package func run() async throws {
        await withDiscardingTaskGroup { group in
            for await fill in jobs.cancelOnGracefulShutdown() {
                group.addTask { await self.perform(fill) }
            }
            group.cancelAll()
        }
    }

    /// Finds `key`, or starts (or joins) its fill.
    /// - Throws: ``StoreError`` if a temporary file cannot be made.
    /// - Parameter keepInMemory: a fill this starts puts the object in the memory hot set once
    ///   stored (``Fill/keepsInMemory``).
    package func lookup(_ key: CacheKey, keepInMemory: Bool = false) throws(StoreError) -> Lookup {
        let found: Lookup? = state.withLock { state in
            if let entry = state.index[key] {
                state.policy.recordHit(key)
                if entry.memory != nil { state.memoryPolicy.recordHit(key) }
                return .stored(entry)
            }
            if let fill = state.inflight[key] { return .filling(fill) }
            return nil
        }
        if let found {
            count(found)
            return found
        }
        let (path, file) = try store.makeTemporaryFile()
        let candidate = Fill(key: key, temporaryPath: path, file: file, keepsInMemory: keepInMemory)
        let result: Lookup = state.withLock { state in
            if let entry = state.index[key] { return .stored(entry) }
            if let fill = state.inflight[key] { return .filling(fill) }
            state.inflight[key] = candidate
            return .filling(candidate)
        }
        if case .filling(let fill) = result, fill === candidate {
            counters.misses.increment()
            jobSink.yield(candidate)
        } else {
            store.remove(path: path)
            count(result)
        }
        return result
    }

    private func count(_ lookup: Lookup) {
        switch lookup {
        case .stored: counters.hits.increment()
        case .filling: counters.joined.increment()
        }
    }

    /// The stored entry for `key` if it can be answered from memory at once (its body is in the
    /// hot set and it carries an annotation); counts as a hit then. Otherwise nil, with no side
    /// effect: never starts a fill, unlike ``lookup(_:)``.
    /// - Parameter annotating: makes the annotation of an entry in memory that has none yet
    ///   (kept with it), or nil when it cannot be made here; called under the cache's lock.
    package func hotEntry(_ key: CacheKey, annotating: (Entry) -> Annotation? = { _ in nil }) -> Entry? {
        let entry: Entry? = state.withLock { state in
            guard var entry = state.index[key], entry.memory != nil else { return nil }
            if entry.annotation == nil {
                guard let made = annotating(entry) else { return nil }
                entry.annotation = made
                state.index[key]?.annotation = made
            }
            state.policy.recordHit(key)
            state.memoryPolicy.recordHit(key)
            return entry
        }
        if entry != nil { counters.hits.increment() }
        return entry
    }

    /// Whether `key` is stored now (never starts a fill, unlike ``lookup(_:)``).
    package func isStored(_ key: CacheKey) -> Bool {
        state.withLock { $0.index[key] != nil }
    }

    /// Keeps `value` with the stored object `key` while it is this version (`sha256`).
    package func annotate(_ key: CacheKey, sha256: String, with value: Annotation) {
        state.withLock { state in
            guard state.index[key]?.metadata.sha256 == sha256 else { return }
            state.index[key]?.annotation = value
        }
    }

    /// Numbers for health and metrics.
    package var statistics: Statistics {
        state.withLock {
            Statistics(
                objects: $0.index.count, usedBytes: $0.used, capacity: configuration.capacity,
                memoryBytes: $0.memoryUsed, fillsInFlight: $0.inflight.count, hits: counters.hits.value, joined: counters.joined.value,
                misses: counters.misses.value, filled: counters.stored.value, fillsNotFound: counters.notFound.value, fillsFailed: counters.failed.value,
                evictions: counters.evictions.value
            )
        }
    }

    func recordGauges(objects: Int, used: Int) {
        counters.objects.record(objects)
        counters.used.record(used)
    }

    // MARK: - Eviction

    /// Evicts until the bytes fit; returns the files to delete (outside the lock).
    static func evictOverBudget(_ state: inout State, capacity: Int) -> [String] {
        var paths: [String] = []
        while state.used > capacity, let victim = state.policy.evict() {
            guard let entry = state.index.removeValue(forKey: victim) else {
                assertionFailure("EdgeCache: policy evicted \(victim), which the index does not hold")
                continue
            }
            state.used -= diskSize(entry.metadata.length)
            if let bytes = entry.memory {
                state.memoryPolicy.remove(victim)
                state.memoryUsed -= bytes.readableBytes
            }
            paths.append(entry.path)
        }
        state.verifyInvariants()
        return paths
    }

    /// Drops `key` (its file vanished or proved unreadable).
    func forget(_ key: CacheKey) {
        let path: String? = state.withLock { state in
            guard let entry = state.index.removeValue(forKey: key) else { return nil }
            state.policy.remove(key)
            state.used -= Self.diskSize(entry.metadata.length)
            if let bytes = entry.memory {
                state.memoryPolicy.remove(key)
                state.memoryUsed -= bytes.readableBytes
            }
            state.verifyInvariants()
            return entry.path
        }
        if let path { store.remove(path: path) }
    }

    // MARK: - Memory hot set

    /// The object's bytes if it is in the memory hot set (counts as a use there).
    package func memoryCopy(of key: CacheKey) -> ByteBuffer? {
        state.withLock { state in
            guard let bytes = state.index[key]?.memory else { return nil }
            state.memoryPolicy.recordHit(key)
            return bytes
        }
    }

    /// Counts a disk read of `key`; true for the second (the object has earned memory), once:
    /// the reads that overlap that one stream in chunks rather than each reading the whole
    /// object (a hundred viewers arriving together would otherwise hold a hundred copies).
    /// Leaving the hot set starts the count again.
    func isReadAgain(_ key: CacheKey) -> Bool {
        state.withLock { state in
            guard let reads = state.index[key]?.diskReads else { return false }
            switch reads {
            case 0: state.index[key]?.diskReads = 1
            case 1: state.index[key]?.diskReads = .max
            default: break
            }
            return reads == 1
        }
    }

    func keepInMemory(_ key: CacheKey, _ bytes: ByteBuffer) {
        guard bytes.readableBytes <= configuration.memoryObjectLimit, bytes.readableBytes <= configuration.memoryCapacity else { return }
        let used = state.withLock { state -> Int in
            guard let entry = state.index[key], entry.memory == nil, entry.metadata.length == bytes.readableBytes else { return state.memoryUsed }
            state.index[key]?.memory = bytes
            state.memoryPolicy.insert(key, size: bytes.readableBytes)
            state.memoryUsed += bytes.readableBytes
            while state.memoryUsed > configuration.memoryCapacity, let victim = state.memoryPolicy.evict() {
                state.memoryUsed -= state.index[victim]?.memory?.readableBytes ?? 0
                state.index[victim]?.memory = nil
                state.index[victim]?.diskReads = 0
            }
            state.verifyInvariants()
            return state.memoryUsed
        }
        counters.memory.record(used)
    }
}

extension EdgeCache.State {
    /// Debug builds check the byte accounting after every change.
    func verifyInvariants() {
        assert(used == index.values.reduce(0) { $0 + EdgeCache.diskSize($1.metadata.length) }, "EdgeCache: byte accounting drifted")
        assert(policy.count == index.count, "EdgeCache: policy holds \(policy.count) objects, index \(index.count)")
        assert(memoryUsed == index.values.reduce(0) { $0 + ($1.memory?.readableBytes ?? 0) }, "EdgeCache: memory accounting drifted")
        assert(memoryPolicy.count == index.values.filter { $0.memory != nil }.count, "EdgeCache: memory policy and index disagree")
    }
}

extension Duration {
    /// The whole duration in nanoseconds (for swift-metrics timers).
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

enum Date {
    static var nowSeconds: Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts.tv_sec
    }
}
