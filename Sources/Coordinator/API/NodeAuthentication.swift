import Crypto
import DePINProtocol
import Foundation
import Hummingbird

/// A message a node signs and posts: how large its body may be, whether a replay must be
/// refused, and the checks of its form. The form is checked before the signature (``SignedByNode``),
/// so malformed requests are refused with 400 without an Ed25519 verification or a store read.
protocol NodeMessage: Decodable, KnownFields, Sendable {
    /// The largest body taken, bytes.
    static var bodyLimit: Int { get }
    /// Whether a replayed request is refused (its nonce stored). Off only where a replay is
    /// harmless by construction: claims and transcode reports are counted once by their ids,
    /// so a replayed request only gets the same answer again.
    static var onceOnly: Bool { get }
    /// - Throws: ``APIError`` (400) naming what is wrong.
    func checkForm() throws
}

extension NodeMessage {
    static var bodyLimit: Int { StrictJSON.maxBytes }
    static var onceOnly: Bool { true }
    func checkForm() throws {}
}

/// The context of a request a node signed: its message, decoded strictly and its form checked
/// when the request enters the route's group, and (once ``SignedByNode`` has run) the node that
/// signed it.
struct NodeRequestContext<Message: NodeMessage>: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let message: Message
    /// The body as signed.
    let body: Data
    /// The registered node whose signature over ``body`` was verified.
    var node: NodeRecord?

    init(context: CoordinatorContext) throws {
        coreContext = context.coreContext
        body = context.body
        message = try CoordinatorAPI.decode(from: body, limit: Message.bodyLimit)
        try message.checkForm()
    }

    /// The node that signed the request.
    func signer() throws -> NodeRecord {
        guard let node else { throw APIError(.unauthorized, "this endpoint takes requests signed by a registered node") }
        return node
    }
}

/// Reads a request's body whole (413 past `limit`) into ``CoordinatorContext/body``.
struct ReadsBody: RouterMiddleware {
    typealias Context = CoordinatorContext
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.body = try await CoordinatorAPI.body(request, limit: limit)
        return try await next(request, context)
    }
}

/// Authenticates a request signed by a registered node (``SignedRequest``): checks the signature
/// over the body with the node's key and, for a message that is to be taken once, refuses a
/// nonce seen before; then puts the node in the context. 401 for an unknown node or a bad
/// signature, 409 for a replay; the handler never runs then.
struct SignedByNode<Message: NodeMessage>: RouterMiddleware {
    typealias Context = NodeRequestContext<Message>
    let registry: Registry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.node = try await registry.authenticate(
            body: context.body, headers: CoordinatorAPI.headers(request), path: request.uri.path, onceOnly: Message.onceOnly)
        return try await next(request, context)
    }
}

extension RouteCollection<CoordinatorContext> {
    /// `POST path` for a message nodes sign: the body read, the message decoded and checked,
    /// then the signature verified, in that order, before `handler` runs.
    func signed<Message: NodeMessage>(
        _ path: RouterPath, _ message: Message.Type, registry: Registry,
        handler: @escaping @Sendable (Request, NodeRequestContext<Message>) async throws -> Response
    ) {
        group(path).add(middleware: ReadsBody(limit: Message.bodyLimit))
            .group(context: NodeRequestContext<Message>.self).add(middleware: SignedByNode<Message>(registry: registry))
            .post(use: handler)
    }
}

/// Lets through only requests with the coordinator's admin token (`Authorization: Bearer`),
/// compared in constant time through SHA-256. 403 when the admin API is off, 401 otherwise.
struct AdminOnly: RouterMiddleware {
    typealias Context = CoordinatorContext
    /// SHA-256 of the admin token; nil: the admin API is off.
    let digest: [UInt8]?

    init(token: String?) { digest = token.map(Self.digest) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let digest else { throw APIError(.forbidden, "the admin API is off (start the coordinator with an admin token)") }
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer ") else { throw APIError(.unauthorized, "the admin API needs Authorization: Bearer TOKEN") }
        guard Self.same(Self.digest(String(header.dropFirst(7))), digest) else { throw APIError(.unauthorized, "wrong admin token") }
        return try await next(request, context)
    }

    static func digest(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }

    /// Compares two digests in constant time.
    static func same(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        given.count == expected.count && zip(given, expected).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0
    }
}
