import HTTPTypes
import Hummingbird
import NIOCore
import ServerGuards
import Synchronization

/// Per-client-address rate limits on the coordinator's public endpoints, the ones anyone can
/// call without a node key or the admin token: route look-ups (each signs a token), HLS keys,
/// registrations (each verifies a signature), viewer events, steering and the watch page.
///
/// One token bucket per address: `rate` requests a second, up to `burst` at once. A request
/// over the limit gets 429 with `Retry-After` (whole seconds) and a one-line reason, and costs
/// the coordinator a dictionary look-up. At most `maxClients` addresses are tracked, the
/// oldest forgotten first (a forgotten address starts again with a full bucket).
package final class ClientRateLimiter: Sendable {
    package struct Policy: Sendable {
        /// Requests a second per address; 0 turns limits off.
        package var rate: Double = 20
        /// Requests an address may make at once.
        package var burst: Double = 100
        package var maxClients = 100_000

        package init(rate: Double = 20, burst: Double = 100) {
            self.rate = rate
            self.burst = burst
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    package let policy: Policy
    private let buckets: Mutex<OldestFirstMap<String, Bucket>>

    package init(policy: Policy) {
        self.policy = policy
        buckets = Mutex(OldestFirstMap(capacity: max(1, policy.maxClients)))
    }

    /// Takes one request from `client`'s bucket.
    /// - Returns: nil when admitted; otherwise the seconds until one more request will be.
    package func admit(_ client: String, now: ContinuousClock.Instant = .now) -> Int? {
        guard policy.rate > 0 else { return nil }
        return buckets.withLock { buckets in
            var bucket = buckets[client] ?? Bucket(tokens: policy.burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(policy.burst, bucket.tokens + max(0, seconds) * policy.rate)
            bucket.updated = now
            defer { buckets[client] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / policy.rate).rounded(.up)))
        }
    }

    /// Addresses tracked now.
    var clients: Int { buckets.withLock { $0.count } }

    /// Whether a request to `path` with `method` counts against its client's limit: the
    /// viewer endpoints, the dashboard and registration. Not `/v1/pathways/`, which edges call for their
    /// viewers (an edge's address speaks for all of them).
    static func isLimited(_ method: HTTPRequest.Method, _ path: String) -> Bool {
        if method == .post && path == "/v1/nodes" { return true }
        if path == "/dashboard" || path.hasPrefix("/dashboard/") || path == "/v1/dashboard" || path.hasPrefix("/v1/dashboard/") { return true }
        return ViewerCORS<CoordinatorContext>.isViewerPath(path) && !path.hasPrefix("/v1/pathways/")
    }
}

/// Answers 429 to a client over its limit on a public endpoint (see ``ClientRateLimiter``).
struct ClientRateLimit: RouterMiddleware {
    typealias Context = CoordinatorContext
    let limiter: ClientRateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .options, ClientRateLimiter.isLimited(request.method, request.uri.path) else { return try await next(request, context) }
        let client = context.remoteAddress?.ipAddress ?? "unknown"
        guard let retry = limiter.admit(client) else { return try await next(request, context) }
        var response = APIError.render(
            "too many requests from \(client): at most \(Self.describe(limiter.policy.rate)) a second (bursts of \(Self.describe(limiter.policy.burst))); retry in \(retry) s",
            status: .tooManyRequests)
        response.headers[.retryAfter] = String(retry)
        return response
    }

    private static func describe(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(value) }
}
