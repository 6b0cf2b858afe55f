import DePINProtocol
import Foundation
import ServerGuards
import Synchronization

/// The published titles, each decoded once: content id → manifest and the figures the
/// coordinator's components work with. A registered title never changes, so a decoded one is
/// kept for the life of the process; an id that is not there is asked of the store again after
/// ``unknownSeconds`` (another coordinator on the same database may register it).
///
/// Thread-safe (a `Mutex`). One instance is shared by every component of a coordinator.
///
/// ## Performance characteristics
/// A known title costs one dictionary look-up under a lock; only the first look-up of a title
/// reads and decodes its stored manifest.
package final class Catalog: Sendable {
    /// A title as the components use it.
    package struct Title: Sendable {
        package let manifest: ContentManifest
        /// Bytes of the source rendition's segments.
        package let bytes: Int64
        /// The source's peak bitrate (bits per second, at least 1).
        package let bitrate: Int64
        /// Names of the renditions edges may make.
        package var renditions: [String] { manifest.ladder.map(\.name) }

        package init(_ manifest: ContentManifest) {
            self.manifest = manifest
            bytes = manifest.segments.reduce(0) { $0 + Int64($1.length) }
            bitrate = Int64(max(manifest.source.bandwidth, 1))
        }
    }

    /// Seconds an unknown id is answered from memory before the store is asked again.
    package static let unknownSeconds: Int64 = 5
    /// Unknown ids remembered at most.
    static let unknownLimit = 10_000

    private let store: any CatalogStore
    private let now: @Sendable () -> Int64
    private struct State {
        var titles: [String: Title] = [:]
        /// Ids not found, and when (anyone may ask for any id: bounded).
        var unknown = OldestFirstMap<String, Int64>(capacity: Catalog.unknownLimit)
    }
    private let state = Mutex(State())

    package init(store: any CatalogStore, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.store = store
        self.now = now
    }

    /// The title `id`, or nil when no such title is registered.
    /// - Parameter recheck: ask the store even if `id` was not there a moment ago (a claim for
    ///   a title another coordinator just registered must not be refused for it).
    /// - Throws: ``StoreFailure/corrupt(_:)`` when its stored manifest does not decode, and
    ///   what the store throws.
    package func title(_ id: String, recheck: Bool = false) async throws -> Title? {
        let time = now()
        let (known, missedAt) = state.withLock { ($0.titles[id], $0.unknown[id]) }
        if let known { return known }
        if !recheck, let missedAt, time - missedAt < Self.unknownSeconds { return nil }
        guard let record = try await store.content(id: id) else {
            state.withLock { $0.unknown[id] = time }
            return nil
        }
        let manifest: ContentManifest
        do {
            manifest = try JSONDecoder().decode(ContentManifest.self, from: Data(record.manifest.utf8))
        } catch {
            throw StoreFailure.corrupt("the stored manifest of \(id) does not decode: \(error)")
        }
        return remember(manifest)
    }

    /// Keeps a title just registered, so its first look-ups need no read.
    @discardableResult
    package func remember(_ manifest: ContentManifest) -> Title {
        let title = Title(manifest)
        state.withLock { state in
            state.titles[manifest.id] = title
            state.unknown[manifest.id] = nil
        }
        return title
    }
}
