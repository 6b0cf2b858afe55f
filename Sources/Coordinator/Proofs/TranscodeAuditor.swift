import AsyncHTTPClient
import Crypto
import DePINProtocol
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Checks transcodes: the encoder is deterministic (the manifest fixes every setting, the
/// thread count included), so two honest edges make byte-identical renditions.
///
/// - **Reports.** Edges report each rendition segment they made with its size and SHA-256
///   (`POST /v1/transcodes`); those are what transcoding earns from. A ``sample`` of reports is
///   held back for an audit: another transcoding edge makes the same segment and its hash is
///   compared with the reported one. A match passes the report; a mismatch goes to a third
///   edge, and the edge that disagrees with the other two is slashed, suspended, and forfeits
///   its transcodes of the epoch. Reports not sampled earn at once; sampled ones only once passed.
/// - **Served bytes.** With probability ``sample`` a round also fetches a random rendition
///   segment from a transcoding edge as viewers get it and compares it the same way, so an edge
///   cannot report honestly and serve garbage.
///
/// With no witness, or no third edge on a mismatch, the audit is undecided: nobody is slashed
/// and a sampled report waits for the next round.
package final class TranscodeAuditor: Sendable {
    package enum Verdict: Sendable, Equatable {
        case agreed(nodes: [String])
        case liar(node: String, evidence: String)
        case undecided(reason: String)
    }

    let store: any CatalogStore & TaskStore & TranscodeStore
    let registry: Registry
    let vault: KeyVault
    let client: HTTPClient
    /// The share of rounds that audit a transcode (0 to 1).
    let sample: Double
    let slashFraction: Double
    /// Seconds an epoch lasts: a liar forfeits its transcodes from the start of the current one.
    let epochSeconds: Int64
    let logger: Logger
    let catalog: Catalog
    private let running = Mutex(false)

    package init(
        store: any CatalogStore & TaskStore & TranscodeStore, registry: Registry, vault: KeyVault, client: HTTPClient, sample: Double, slashFraction: Double = 0.1,
        epochSeconds: Int64 = 86_400, catalog: Catalog? = nil, logger: Logger
    ) {
        self.catalog = catalog ?? Catalog(store: store)
        self.epochSeconds = epochSeconds
        self.store = store
        self.registry = registry
        self.vault = vault
        self.client = client
        self.sample = sample
        self.slashFraction = slashFraction
        self.logger = logger
    }

    /// Records an edge's reports of rendition segments it made; each is checked against the
    /// title (a transcoding task of this node, a rendition of the ladder, a segment of the
    /// title, a plausible size and a SHA-256) and held for an audit with probability ``sample``.
    package func report(_ made: [MadeRendition], from node: String) async throws -> TranscodeReportAnswer {
        var refused: [TranscodeReportAnswer.Refusal] = []
        var taken: [TranscodeReport] = []
        var titles: [String: ContentManifest?] = [:]
        var allowed: [String: Bool] = [:]
        let time = Int64(Date().timeIntervalSince1970)
        var generator = SystemRandomNumberGenerator()
        for (index, item) in made.enumerated() {
            guard Identifier.isValid(item.content) else {
                refused.append(.init(index: index, reason: "content must be a content id (\(Identifier.rule))"))
                continue
            }
            if titles[item.content] == nil {
                titles[item.content] = try await catalog.title(item.content)?.manifest
                allowed[item.content] = try await store.tasks(content: item.content).contains { $0.node == node && $0.kind == .transcoding }
            }
            guard let manifest = titles[item.content] ?? nil else {
                refused.append(.init(index: index, reason: "no content \(item.content)"))
                continue
            }
            guard allowed[item.content] == true else {
                refused.append(.init(index: index, reason: "node \(node) has no transcoding task for \(item.content)"))
                continue
            }
            guard manifest.ladder.contains(where: { $0.name == item.rendition }) else {
                refused.append(.init(index: index, reason: "\(item.content) has no rendition '\(item.rendition.prefix(32))'"))
                continue
            }
            guard let source = manifest.segments.first(where: { $0.index == item.segment }) else {
                refused.append(.init(index: index, reason: "\(item.content) has no segment \(item.segment)"))
                continue
            }
            // A rendition is never taller than the source, so never much larger; allow generous headroom.
            guard item.bytes > 0, item.bytes <= max(Int64(source.length) * 4, 1 << 20) else {
                refused.append(.init(index: index, reason: "\(item.bytes) bytes is not a plausible size for segment \(item.segment) of \(item.content)"))
                continue
            }
            guard item.sha256.count == 64, JSONText.bytes(hex: item.sha256) != nil else {
                refused.append(.init(index: index, reason: "sha256 must be 64 hex digits"))
                continue
            }
            let sampled = sample > 0 && Double.random(in: 0..<1, using: &generator) < sample
            taken.append(
                TranscodeReport(
                    node: node, content: item.content, rendition: item.rendition, segment: item.segment, bytes: item.bytes,
                    sha256: item.sha256.lowercased(), reportedAt: time, status: sampled ? .sampled : .unsampled, decidedAt: sampled ? nil : time))
        }
        _ = try await store.addTranscodes(taken)
        return TranscodeReportAnswer(accepted: taken.count, refused: refused)
    }

    /// Audits the oldest report held for an audit, if any; otherwise, if the sample says so,
    /// one transcoding task's served output picked at random. One audit at a time.
    @discardableResult
    package func round() async throws -> Verdict? {
        guard running.withLock({ busy in defer { busy = true }; return !busy }) else { return nil }
        defer { running.withLock { $0 = false } }
        if let report = try await store.transcodes(status: .sampled, limit: 1).first {
            let verdict = try await audit(report)
            logger.info("transcode audit of the report of \(report.node) (\(report.content)/\(report.rendition)/\(report.segment).ts): \(verdict)")
            return verdict
        }
        var generator = SystemRandomNumberGenerator()
        guard sample > 0, Double.random(in: 0..<1, using: &generator) < sample else { return nil }
        var candidates: [TaskRecord] = []
        for content in try await store.contentIDs() {
            candidates += try await store.tasks(content: content).filter { $0.kind == .transcoding && registry.eligible($0.node, for: .transcoding) != nil }
        }
        guard let task = candidates.randomElement(using: &generator), let manifest = try await catalog.title(task.content)?.manifest,
            let rendition = manifest.ladder.randomElement(using: &generator), let segment = manifest.segments.randomElement(using: &generator)
        else { return nil }
        let verdict = try await audit(node: task.node, content: task.content, rendition: rendition.name, segment: segment.index)
        logger.info("transcode audit of \(task.node) (\(task.content)/\(rendition.name)/\(segment.index).ts): \(verdict)")
        return verdict
    }

    /// Audits a held report: its hash against another edge's output.
    func audit(_ report: TranscodeReport) async throws -> Verdict {
        let verdict = try await audit(
            node: report.node, content: report.content, rendition: report.rendition, segment: report.segment, reported: report.sha256)
        let time = Int64(Date().timeIntervalSince1970)
        switch verdict {
        case .agreed:
            _ = try await store.decideTranscode(report, status: .passed, at: time)
        case .liar(let node, _) where node == report.node:
            _ = try await store.decideTranscode(report, status: .failed, at: time)
        case .liar:
            // The witness lied; the report matched the referee.
            _ = try await store.decideTranscode(report, status: .passed, at: time)
        case .undecided:
            break  // held for the next round
        }
        return verdict
    }

    /// Compares one rendition segment as `node` makes it (or the hash it `reported`) with
    /// other transcoding edges' output.
    package func audit(node: String, content: String, rendition: String, segment: Int, reported: String? = nil) async throws -> Verdict {
        let others = registry.candidates(for: .transcoding).map(\.id).filter { $0 != node }.shuffled()
        guard let second = others.first else { return .undecided(reason: "no second transcoding edge to compare with") }
        let path = "\(content)/\(rendition)/\(segment).ts"
        let served: String?
        if let reported { served = reported } else { served = try await digest(of: path, at: node) }
        guard let subject = served, let witness = try await digest(of: path, at: second) else {
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
        let evidence = try Evidence.json(DisagreeingOutputs(path: path, hashes: [node: subject, second: witness, third: referee]))
        try await punish(liar, evidence: evidence, path: path)
        return .liar(node: liar, evidence: evidence)
    }

    /// SHA-256 (hex) of `path` as `node` serves it, or nil when it does not answer with it.
    private func digest(of path: String, at node: String) async throws -> String? {
        guard let record = registry.known(node) else { return nil }
        let token = try await vault.tokens.issue(content: String(path.prefix { $0 != "/" }), session: TokenScope.fill(node: "coordinator").subject, lifetime: 600)
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
        let time = Int64(Date().timeIntervalSince1970)
        let voided = try await store.forfeitTranscodes(node: node, since: time - time % epochSeconds)
        if voided > 0 { logger.info("transcode audit: \(node) forfeits \(voided) transcode reports of this epoch") }
    }
}
