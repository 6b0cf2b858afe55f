import DePINProtocol
import Foundation
import Hummingbird

extension CoordinatorAPI {
    /// What edges do and prove, each request signed by a registered node (``SignedByNode``;
    /// each message's form is checked first, see ``NodeMessage``):
    ///
    /// - `POST /v1/tasks`: an edge's long poll for its hosting, transcoding and delivery tasks,
    ///   and its reports of titles it now hosts.
    /// - `POST /v1/leases`: a title's key, sealed to the edge, for an edge with a transcoding
    ///   task for it.
    /// - `POST /v1/claims`: an edge's delivery claims; the answer has a signed receipt for each
    ///   accepted claim and a reason for each refused one (see ``ClaimBook``).
    /// - `POST /v1/challenges`: a host's answer to a proof-of-retrievability challenge (handed
    ///   out with its tasks); the verdict and its reputation (see ``Challenger``).
    /// - `POST /v1/transcodes`: rendition segments an edge made, each with its size and SHA-256;
    ///   a sample is held for an audit (see ``TranscodeAuditor``).
    /// - `POST /v1/probes`: a node's answer to a capacity probe (handed out with its tasks); the
    ///   cores it showed (see ``CapacityProber``).
    func workRoutes() -> RouteCollection<CoordinatorContext> {
        let routes = RouteCollection(context: CoordinatorContext.self)
        routes.signed("v1/tasks", TaskPollRequest.self, registry: registry) { request, context in
            let (poll, node) = (context.message, try context.signer())
            for content in poll.hosted {
                guard Identifier.isValid(content), try await board.hosted(node: node.id, content: content) else {
                    throw APIError(.badRequest, "node \(node.id) has no hosting task for '\(content.prefix(64))'")
                }
            }
            let tasks = try await board.poll(node: node.id, after: poll.after, wait: .seconds(poll.hosted.isEmpty ? poll.wait : 0))
            return try Self.encode(try await taskAnswer(tasks, for: node))
        }
        routes.signed("v1/claims", ClaimBatch.self, registry: registry) { request, context in
            try Self.encode(try await claims.submit(context.message.claims, from: try context.signer().id))
        }
        routes.signed("v1/challenges", ChallengeResponse.self, registry: registry) { request, context in
            try Self.encode(try await challenger.answer(context.message, from: try context.signer().id))
        }
        routes.signed("v1/transcodes", TranscodeReportBatch.self, registry: registry) { request, context in
            try Self.encode(try await auditor.report(context.message.made, from: try context.signer().id))
        }
        routes.signed("v1/probes", WorkProbeAnswer.self, registry: registry) { request, context in
            try Self.encode(try await prober.answer(context.message, from: try context.signer().id))
        }
        routes.signed("v1/leases", LeaseRequest.self, registry: registry) { request, context in
            let (lease, node) = (context.message, try context.signer())
            guard let record = try await store.content(id: lease.content) else { throw APIError(.notFound, "no content \(lease.content)") }
            guard try await board.mayTranscode(node: node.id, content: lease.content) else {
                throw APIError(.forbidden, "node \(node.id) has no transcoding task for \(lease.content), or may not transcode now")
            }
            let key = try vault.unseal(record.sealedKey, content: lease.content)
            let expires = Int64(Date().timeIntervalSince1970) + leaseLifetime
            do {
                return try Self.encode(try KeyLease.seal(key, content: lease.content, expiresAt: expires, to: lease.recipientKey))
            } catch let error as ProtocolError {
                throw APIError(.badRequest, "\(error)")
            }
        }
        return routes
    }

    /// Every task of `node`, with its title's hosts as sources and a token that opens the
    /// title there.
    private func taskAnswer(_ tasks: [TaskRecord], for node: NodeRecord) async throws -> TaskPollAnswer {
        let place = GeoPoint(latitude: node.latitude, longitude: node.longitude)
        var tokens: [String: String] = [:]
        var out: [AssignedTask] = []
        for task in tasks {
            var assigned = AssignedTask(content: task.content, kind: task.kind.rawValue, done: task.doneAt != nil)
            switch task.kind {
            case .hosting where task.doneAt != nil:
                break
            case .hosting, .delivery:
                var sources = try await board.sources(of: task.content, near: place).filter { $0.id != node.id }
                if task.kind == .delivery { sources = try await board.liveRelays(of: task.content, for: node, hosts: sources) + sources }
                if task.kind == .delivery, registry.eligible(node.id, for: .transcoding) == nil {
                    // Renditions this edge does not make come from edges that do.
                    let known = Set(sources.map(\.id))
                    sources += try await board.transcoders(of: task.content, near: place).filter { $0.id != node.id && !known.contains($0.id) }
                }
                assigned.sources = sources.map(\.url)
                if tokens[task.content] == nil {
                    tokens[task.content] = try await vault.tokens.issue(content: task.content, session: TokenScope.fill(node: node.id).subject, lifetime: tokenLifetime)
                }
                assigned.token = tokens[task.content]
            case .transcoding:
                assigned.renditions = try await board.renditions(of: task.content)
            }
            out.append(assigned)
        }
        let challenges = try await store.openChallenges(node: node.id).map {
            Challenge(id: $0.id, content: $0.content, segment: $0.segment, chunk: $0.chunk, deadline: $0.deadline)
        }
        let probes = try await prober.deliver(to: node.id)
        return TaskPollAnswer(cursor: tasks.compactMap(\.sequence).max() ?? 0, tasks: out, challenges: challenges, probes: probes.isEmpty ? nil : probes)
    }
}

extension TaskPollRequest: NodeMessage {
    func checkForm() throws {
        guard (0...60).contains(wait), after >= 0, hosted.count <= 1000 else {
            throw APIError(.badRequest, "wait must be 0 to 60 seconds, after not negative, at most 1000 hosted titles")
        }
    }
}

extension ClaimBatch: NodeMessage {
    static var bodyLimit: Int { maxBytes }
    static var onceOnly: Bool { false }
    func checkForm() throws {
        guard !claims.isEmpty, claims.count <= Self.maxClaims else { throw APIError(.badRequest, "a batch holds 1 to \(Self.maxClaims) claims") }
    }
}

extension ChallengeResponse: NodeMessage {
    static var bodyLimit: Int { maxBytes }
}

extension TranscodeReportBatch: NodeMessage {
    static var bodyLimit: Int { maxBytes }
    static var onceOnly: Bool { false }
    func checkForm() throws {
        guard !made.isEmpty, made.count <= Self.maxReports else {
            throw APIError(.badRequest, "a report holds 1 to \(Self.maxReports) rendition segments")
        }
    }
}

extension WorkProbeAnswer: NodeMessage {
    static var bodyLimit: Int { maxBytes }
}

extension LeaseRequest: NodeMessage {
    func checkForm() throws {
        guard Identifier.isValid(content) else { throw APIError(.badRequest, "content must be a content id (\(Identifier.rule))") }
        guard let key = Data(base64Encoded: leaseKey), key.count == 32 else {
            throw APIError(.badRequest, "leaseKey must be a raw X25519 public key (32 bytes, base64)")
        }
    }

    /// The edge's X25519 public key (checked by ``checkForm()``).
    var recipientKey: Data { Data(base64Encoded: leaseKey) ?? Data() }
}
