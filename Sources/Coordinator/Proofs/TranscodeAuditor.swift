import AsyncHTTPClient
import Crypto
import DePINProtocol
import Foundation
import Logging
import Media
import NIOCore
import NIOHTTP1
import Synchronization

/// Checks transcodes: the encoder is deterministic (the manifest fixes every setting, the
/// thread count included), so two honest edges make byte-identical renditions. Each round,
/// with probability ``sample``, one transcoding task is audited: a random rendition and segment
/// of its title is fetched from its edge and from another transcoding edge and their SHA-256s
/// compared; when they differ a third edge decides, and the edge whose output disagrees with
/// the other two is slashed (the hashes as evidence) and suspended. With no third edge the
/// audit is recorded as undecided and nobody is slashed.
package final class TranscodeAuditor: Sendable {
    package enum Verdict: Sendable, Equatable {
        case agreed(nodes: [String])
        case liar(node: String, evidence: String)
        case undecided(reason: String)
    }

    let store: any CoordinatorStore
    let registry: Registry
    let vault: KeyVault
    let client: HTTPClient
    /// The share of rounds that audit a transcode (0 to 1).
    let sample: Double
    let slashFraction: Double
    let logger: Logger
    private let running = Mutex(false)

    package init(store: any CoordinatorStore, registry: Registry, vault: KeyVault, client: HTTPClient, sample: Double, slashFraction: Double = 0.1, logger: Logger) {
        self.store = store
        self.registry = registry
        self.vault = vault
        self.client = client
        self.sample = sample
        self.slashFraction = slashFraction
        self.logger = logger
    }

    /// Audits one transcoding task picked at random, if the sample says so and no audit runs.
    @discardableResult
    package func round() async throws -> Verdict? {
        var generator = SystemRandomNumberGenerator()
        guard sample > 0, Double.random(in: 0..<1, using: &generator) < sample else { return nil }
        guard running.withLock({ busy in defer { busy = true }; return !busy }) else { return nil }
        defer { running.withLock { $0 = false } }
        var candidates: [TaskRecord] = []
        for content in try await store.contentIDs() {
            candidates += try await store.tasks(content: content).filter { $0.kind == .transcoding && registry.eligible($0.node, for: .transcoding) != nil }
        }
        guard let task = candidates.randomElement(using: &generator), let record = try await store.content(id: task.content),
            let manifest = try? JSONDecoder().decode(ContentManifest.self, from: Data(record.manifest.utf8)),
            let rendition = manifest.ladder.randomElement(using: &generator), let segment = manifest.segments.randomElement(using: &generator)
        else { return nil }
        let verdict = try await audit(node: task.node, content: task.content, rendition: rendition.name, segment: segment.index)
        logger.info("transcode audit of \(task.node) (\(task.content)/\(rendition.name)/\(segment.index).ts): \(verdict)")
        return verdict
    }

    /// Compares one rendition segment as `node` makes it with other transcoding edges' output.
    package func audit(node: String, content: String, rendition: String, segment: Int) async throws -> Verdict {
        let others = registry.candidates(for: .transcoding).map(\.id).filter { $0 != node }.shuffled()
        guard let second = others.first else { return .undecided(reason: "no second transcoding edge to compare with") }
        let path = "\(content)/\(rendition)/\(segment).ts"
        guard let subject = try await digest(of: path, at: node), let witness = try await digest(of: path, at: second) else {
            return .undecided(reason: "an edge did not answer for \(path)")
        }
        if subject == witness { return .agreed(nodes: [node, second]) }
        guard let third = others.dropFirst().first, let referee = try await digest(of: path, at: third) else {
            return .undecided(reason: "\(node) and \(second) disagree on \(path) and no third edge decided")
        }
        let liar: String
        if referee == witness {
            liar = node
        } else if referee == subject {
            liar = second
        } else {
            return .undecided(reason: "three edges made three different \(path)")
        }
        let evidence = #"{"path":"\#(path)","hashes":{"\#(node)":"\#(subject)","\#(second)":"\#(witness)","\#(third)":"\#(referee)"}}"#
        try await punish(liar, evidence: evidence, path: path)
        return .liar(node: liar, evidence: evidence)
    }

    /// SHA-256 (hex) of `path` as `node` serves it, or nil when it does not answer with it.
    private func digest(of path: String, at node: String) async throws -> String? {
        guard let record = registry.known(node) else { return nil }
        let token = try await vault.tokens.issue(content: String(path.prefix { $0 != "/" }), session: TokenScope.fill("coordinator"), lifetime: 600)
        var request = HTTPClientRequest(url: "\(record.url)/v/\(path)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        do {
            let response = try await client.execute(request, timeout: .seconds(120))
            guard response.status == .ok else { return nil }
            var hasher = SHA256()
            var total = 0
            for try await chunk in response.body {
                total += chunk.readableBytes
                guard total <= 1 << 30 else { return nil }
                hasher.update(data: chunk.readableBytesView)
            }
            return JSONText.hex(hasher.finalize())
        } catch {
            logger.warning("transcode audit: \(record.url)/v/\(path): \(error)")
            return nil
        }
    }

    private func punish(_ node: String, evidence: String, path: String) async throws {
        let reason = "slashed: its \(path) disagreed with two other edges' (a transcode audit)"
        registry.setSuspension(node, reason: reason)
        try await registry.slash(node, fraction: slashFraction, reason: "transcode audit: output disagreed with two other edges", evidence: evidence)
    }
}
