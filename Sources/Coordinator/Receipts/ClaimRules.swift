import DePINProtocol

/// The rules a delivery claim must pass to earn a receipt, as pure functions of the claim, its
/// session's totals so far, its title and ``ClaimBook/Policy``: no store, no clock, no actor.
///
/// - Before its turn (``refusal(_:issued:at:)``): plausible numbers, and times within the
///   session's life (from its issue to ``ClaimBook/Policy/sessionLifetime`` after, give or take
///   ``ClaimBook/Policy/skew``, and not in the future).
/// - In its round (``admit(_:from:issued:delivered:title:)``): at most
///   ``ClaimBook/Policy/maxEdgesPerSession`` edges a session; all edges together at most
///   ``ClaimBook/Policy/bytesFactor`` times the title's size; and no faster than playback allows
///   (the title's peak bitrate over the session's wall time plus
///   ``ClaimBook/Policy/bufferSeconds``, times the same factor).
///
/// A refusal's reason is the text the edge gets back.
///
/// ## Performance characteristics
/// Called once per claim. An accepted claim allocates only when an edge joins its session (the
/// sorted edge list grows); a refused one builds its reason.
package struct ClaimRules: Sendable {
    package var policy: ClaimBook.Policy

    package init(policy: ClaimBook.Policy = ClaimBook.Policy()) {
        self.policy = policy
    }

    /// A title as the caps need it: its size and its peak bitrate.
    package struct Title: Sendable, Equatable {
        /// Bytes of the source rendition's segments.
        package var bytes: Int64
        /// Bits per second.
        package var bitrate: Int64

        package init(bytes: Int64, bitrate: Int64) {
            self.bytes = bytes
            self.bitrate = bitrate
        }
    }

    /// Whether a session may take a claim.
    package enum Verdict: Sendable, Equatable {
        /// Accepted: the session's totals with the claim.
        case accept(ClaimBook.Delivered)
        /// Refused, and why (the text the edge gets).
        case refuse(String)
    }

    /// Why `claim` cannot be accepted whatever its session holds (implausible numbers, or times
    /// outside the life of its session, issued at `issued`, as of `time`), or nil.
    package func refusal(_ claim: DeliveryClaim, issued: Int64, at time: Int64) -> String? {
        guard claim.bytes > 0, claim.segments >= 0, claim.segments <= 1_000_000, (0...600_000).contains(claim.ttfbMilliseconds),
            claim.firstAt <= claim.lastAt
        else {
            return "bytes must be positive, segments and ttfbMilliseconds plausible, firstAt not after lastAt"
        }
        guard claim.firstAt >= issued - policy.skew, claim.lastAt <= time + policy.skew,
            claim.lastAt <= issued + policy.sessionLifetime + policy.skew
        else {
            return "the claim's times (\(claim.firstAt) to \(claim.lastAt)) fall outside session \(claim.session)'s life (issued \(issued))"
        }
        return nil
    }

    /// Whether the session of `claim` (issued at `issued`, delivered `delivered` so far) may take
    /// it from `node`: the edges, size and rate caps, checked in that order.
    /// - Returns: the session's totals with the claim, or the reason it is refused.
    package func admit(_ claim: DeliveryClaim, from node: String, issued: Int64, delivered: ClaimBook.Delivered, title: Title) -> Verdict {
        if !delivered.edges.contains(node) {
            guard delivered.edges.count < policy.maxEdgesPerSession else {
                return .refuse(
                    "session \(claim.session) already has \(delivered.edges.count) edges delivering it (at most \(policy.maxEdgesPerSession))")
            }
        }
        let total = delivered.bytes + claim.bytes
        let sizeCap = Int64(Double(title.bytes) * policy.bytesFactor)
        guard total <= sizeCap else {
            return .refuse(
                "session \(claim.session) would have \(total) bytes; at most \(sizeCap) (\(policy.bytesFactor) x the title's \(title.bytes))")
        }
        let wall = max(0, claim.lastAt - issued) + policy.bufferSeconds
        let rateCap = Int64(Double(wall) * Double(title.bitrate) / 8 * policy.bytesFactor)
        guard total <= rateCap else {
            return .refuse(
                "session \(claim.session) would have \(total) bytes \(wall - policy.bufferSeconds) s after it began; playback allows at most \(rateCap)")
        }
        var after = delivered
        after.bytes = total
        after.add(edge: node)
        return .accept(after)
    }
}
