import DePINProtocol
import Foundation
import Hummingbird

extension CoordinatorAPI {
    /// Miners and their stake:
    ///
    /// - `POST /v1/nodes`: register (signed by the key in the body; see ``SignedRequest``).
    /// - `POST /v1/heartbeat` (signed): report load, free cache and health.
    /// - `GET /v1/nodes/{id}`: a node's registration, stake and whether (or why not) it is
    ///   routed to, with its reputation, measured cores and viewers' reports.
    /// - `POST /v1/admin/ledger` (admin): record a deposit, bond, unbond, release or slash.
    func nodeRoutes() -> RouteCollection<CoordinatorContext> {
        let routes = RouteCollection(context: CoordinatorContext.self)
        routes.post("v1/nodes") { request, context in
            let body = try await Self.body(request)
            let status = try await registry.register(body: body, headers: Self.headers(request), path: request.uri.path)
            return try Self.encode(NodeView(status), status: .created)
        }
        routes.post("v1/heartbeat") { request, context in
            let body = try await Self.body(request)
            let status = try await registry.heartbeat(body: body, headers: Self.headers(request), path: request.uri.path)
            return try Self.encode(NodeView(status))
        }
        routes.get("v1/nodes/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard let view = try await nodeView(id, now: Int64(Date().timeIntervalSince1970)) else { throw APIError(.notFound, "no node \(id.prefix(64))") }
            return try Self.encode(view)
        }
        routes.group("v1/admin/ledger").add(middleware: admin).post { request, context in
            let entry: LedgerRequest = try await Self.decode(request)
            guard let kind = LedgerEvent.Kind(rawValue: entry.kind) else {
                throw APIError(.badRequest, "kind '\(entry.kind)' is not deposit, bond, unbond, release or slash")
            }
            guard entry.amount > 0 else { throw APIError(.badRequest, "amount must be a positive number of base units") }
            let balance = try await registry.record(
                LedgerEvent(node: entry.node, kind: kind, amount: entry.amount, reason: entry.reason, evidence: entry.evidence, at: Int64(Date().timeIntervalSince1970)))
            return try Self.encode(StakeView(balance))
        }
        return routes
    }
}
