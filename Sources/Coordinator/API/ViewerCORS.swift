import HTTPTypes
import Hummingbird

/// Cross-origin access to the endpoints a viewer's page calls (route look-ups, HLS keys, the
/// coordinator's public key, viewer events, Content Steering, the watch page), from the
/// configured origins; the admin and node endpoints never answer CORS, so no page can drive
/// them from a browser.
///
/// Preflights (`OPTIONS`) on a viewer endpoint are answered here with 204; other requests get
/// `Access-Control-Allow-Origin` on every answer, errors included, so a page can show why.
struct ViewerCORS<Context: RequestContext>: RouterMiddleware {
    /// `["*"]` (any origin), or the exact origins (`https://app.dehub.io`) allowed.
    let origins: [String]

    /// Path prefixes of the viewer endpoints.
    static var viewerPaths: [String] {
        ["/v1/route", "/v1/hls-key/", "/v1/keys/coordinator", "/v1/viewer-events", "/v1/steering/", "/v1/pathways/", "/watch/"]
    }

    static func isViewerPath(_ path: String) -> Bool {
        viewerPaths.contains { prefix in prefix.hasSuffix("/") ? path.hasPrefix(prefix) : path == prefix }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isViewerPath(request.uri.path) else { return try await next(request, context) }
        let allowed = allowedOrigin(request.headers[.origin])
        if request.method == .options {
            var headers = HTTPFields()
            add(allowed, to: &headers)
            headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            headers[.accessControlMaxAge] = "86400"
            headers[.allow] = "GET, POST, OPTIONS"
            return Response(status: .noContent, headers: headers)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        add(allowed, to: &response.headers)
        return response
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, or nil for none.
    func allowedOrigin(_ origin: String?) -> String? {
        if origins.contains("*") { return "*" }
        guard let origin, origins.contains(origin) else { return nil }
        return origin
    }

    private func add(_ allowed: String?, to headers: inout HTTPFields) {
        if !origins.contains("*") { headers[values: .vary].append("Origin") }
        guard let allowed else { return }
        headers[.accessControlAllowOrigin] = allowed
        headers[.accessControlExposeHeaders] = "Content-Length, Content-Type, Retry-After"
    }
}
