import AsyncHTTPClient
import DePINProtocol
import Foundation
import Synchronization

/// The hosting edges of a live title while it streams, a ``LiveHostPusher`` each. A host that
/// goes away (refuses, times out, cannot keep up) is dropped and another, near the ingest, is
/// asked of the coordinator and brought up to date with what the playlists list, so the stream
/// never stops for it.
package final class LiveHosts: Sendable {
    private let coordinator: LiveCoordinator
    private let content: String
    private let client: HTTPClient
    private let packager: LivePackager
    private let log: @Sendable (String) -> Void
    private struct State {
        var pushers: [LiveHostPusher] = []
        var gone: [String] = []
    }
    private let state = Mutex(State())

    package init(coordinator: LiveCoordinator, content: String, client: HTTPClient, packager: LivePackager, log: @escaping @Sendable (String) -> Void) {
        self.coordinator = coordinator
        self.content = content
        self.client = client
        self.packager = packager
        self.log = log
    }

    /// The hosts pushed to now.
    package var current: [ContentRegistrationAnswer.Host] { state.withLock { $0.pushers.filter { !$0.failed }.map(\.host) } }

    /// The hosts that went away, in order.
    package var departed: [String] { state.withLock { $0.gone } }

    /// Starts pushing to `hosts`.
    package func add(_ hosts: [ContentRegistrationAnswer.Host]) {
        for host in hosts {
            let pusher = LiveHostPusher(host: host, content: content, client: client, latency: packager.latency) { [weak self] pusher, why in
                self?.replace(pusher, why: why)
            }
            state.withLock { $0.pushers.append(pusher) }
            packager.add(destination: pusher)
            log("live: pushing \(content) to host \(host.id) at \(host.url)")
        }
    }

    private func replace(_ pusher: LiveHostPusher, why: String) {
        packager.remove(destination: pusher)
        let (exclude, gone) = state.withLock { state in
            state.pushers.removeAll { $0 === pusher }
            state.gone.append(pusher.host.id)
            return (state.gone + state.pushers.map(\.host.id), state.gone)
        }
        log("live: host \(pusher.host.id) went away (\(why)); asking the coordinator for another")
        Task {
            do {
                let hosts = try await coordinator.replacement(id: content, exclude: exclude, gone: gone)
                add(hosts)
            } catch {
                log("live: no replacement for \(pusher.host.id): \(error)")
            }
        }
    }
}
