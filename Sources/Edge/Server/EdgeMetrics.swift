import EdgeCache
import Metrics

/// The edge's request metrics, made once so the hot path only increments.
struct EdgeMetrics: Sendable {
    /// By status code, 100...599 (an array: this runs for every request).
    let requests: [TalliedCounter?]
    let otherRequests: TalliedCounter
    let bytes: TalliedCounter
    let duration: Timer
    /// Counts a live playlist (blocking reloads included) or a live part or segment this edge
    /// served from its live store, as a host, by rung: what edges filling from it and viewers
    /// asked of it.
    func countLive(path: String, playlist: Bool) {
        let rung = path.split(separator: "/").first.map(String.init) ?? ""
        guard rung.count <= 32, !rung.hasSuffix(".m3u8") else { return }
        Counter(label: playlist ? "depin_live_hosted_playlists_total" : "depin_live_hosted_media_total", dimensions: [("rung", rung)]).increment()
    }

    init() {
        var requests = [TalliedCounter?](repeating: nil, count: 600)
        for status in [200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409, 412, 413, 416, 429, 431, 500, 502, 503, 504] {
            requests[status] = TalliedCounter(label: "depin_http_requests_total", dimensions: [("status", String(status))])
        }
        self.requests = requests
        otherRequests = TalliedCounter(label: "depin_http_requests_total", dimensions: [("status", "other")])
        bytes = TalliedCounter(label: "depin_http_response_body_bytes_total")
        duration = Timer(label: "depin_http_request_duration_seconds")
    }

    /// Requests answered since start by status code (codes this edge does not count alone
    /// under 0), and body bytes sent.
    var answered: (byStatus: [Int: Int], bytes: Int) {
        var byStatus: [Int: Int] = [:]
        for (status, counter) in requests.enumerated() { if let counter, counter.value > 0 { byStatus[status] = counter.value } }
        if otherRequests.value > 0 { byStatus[0] = otherRequests.value }
        return (byStatus, bytes.value)
    }

    func record(status: Int, bodyBytes: Int, started: ContinuousClock.Instant) {
        let counter = (100..<600).contains(status) ? requests[status] : nil
        (counter ?? otherRequests).increment()
        if bodyBytes > 0 { bytes.increment(by: bodyBytes) }
        let elapsed = ContinuousClock.now - started
        duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
