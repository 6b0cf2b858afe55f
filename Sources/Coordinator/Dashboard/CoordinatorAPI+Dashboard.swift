import DePINProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension CoordinatorAPI {
    /// What operators look at, read-only (GET only; nothing here changes state):
    ///
    /// - `GET /dashboard`: the network at a glance: edges on a world map, totals, titles, the
    ///   last epochs' pools and payouts.
    /// - `GET /dashboard/nodes/{id}`: one miner: stake, routing, capacity, traffic per hour,
    ///   challenges, transcode audits, warnings, and each epoch's payout explained term by term
    ///   as `depin rewards explain` explains it, with its proof checked.
    /// - `GET /dashboard/titles/{id}`: a title's hosts, replicas over time, demand, renditions.
    /// - `GET /v1/dashboard`, `/v1/dashboard/nodes/{id}`, `/v1/dashboard/titles/{id}`: the same
    ///   figures as JSON, from the same views.
    ///
    /// An unknown node, title or page is a 404 page that says so; a method other than GET is a
    /// 405 page.
    func dashboardRoutes() -> RouteCollection<CoordinatorContext> {
        let routes = RouteCollection(context: CoordinatorContext.self)
        routes.get("dashboard") { _, _ in
            Self.page(DashboardPages.network(try await networkView(now: Self.now())))
        }
        routes.get("dashboard/nodes/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let view = try await nodePage(id, now: Self.now()) else {
                return Self.page(
                    HTMLPage.dashboardNotFound("No such edge", "This coordinator knows no edge <code>\(HTMLPage.escape(String(id.prefix(64))))</code>."),
                    status: .notFound)
            }
            return Self.page(DashboardPages.node(view))
        }
        routes.get("dashboard/titles/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let view = try await titlePage(id, now: Self.now()) else {
                return Self.page(
                    HTMLPage.dashboardNotFound(
                        "No such title", "This network has no title <code>\(HTMLPage.escape(String(id.prefix(64))))</code>, published or live."),
                    status: .notFound)
            }
            return Self.page(DashboardPages.title(view))
        }
        routes.get("dashboard/**") { request, _ in
            Self.page(
                HTMLPage.dashboardNotFound(
                    "No such page",
                    "<code>\(HTMLPage.escape(String(request.uri.path.prefix(100))))</code> is not a dashboard page: there are <a href=\"/dashboard\">/dashboard</a>, /dashboard/nodes/{id} and /dashboard/titles/{id}."
                ), status: .notFound)
        }
        // Nothing under /dashboard changes state: any other method is refused as such.
        for method in [HTTPRequest.Method.post, .put, .patch, .delete] {
            for path in ["dashboard", "dashboard/nodes/:id", "dashboard/titles/:id", "dashboard/**"] {
                routes.on(RouterPath(path), method: method) { request, _ in
                    var response = Self.page(
                        HTMLPage.dashboardNotFound("Read-only", "The dashboard only shows figures: \(request.method) is refused here; use GET."),
                        status: .methodNotAllowed)
                    response.headers[.allow] = "GET"
                    return response
                }
            }
        }
        routes.get("v1/dashboard") { _, _ in try Self.encode(try await networkView(now: Self.now())) }
        routes.get("v1/dashboard/nodes/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let view = try await nodePage(id, now: Self.now()) else { throw APIError(.notFound, "no node \(id.prefix(64))") }
            return try Self.encode(view)
        }
        routes.get("v1/dashboard/titles/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let view = try await titlePage(id, now: Self.now()) else { throw APIError(.notFound, "no title \(id.prefix(64))") }
            return try Self.encode(view)
        }
        return routes
    }

    private static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    private static func page(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers[.contentSecurityPolicy] = HTMLPage.securityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
