/// How long to wait before trying again after a failure: exponential, capped, with full jitter
/// (a random wait between zero and the exponential bound), so that edges that lost the
/// coordinator together do not come back together.
///
/// Value type: each retry loop keeps its own and ``reset()``s it after a success.
package struct Backoff: Sendable {
    package let base: Duration
    package let cap: Duration
    private var failures = 0

    package init(base: Duration = .milliseconds(500), cap: Duration = .seconds(30)) {
        self.base = base
        self.cap = cap
    }

    /// Failures since the last success.
    package var attempts: Int { failures }

    /// The wait after one more failure: random in [bound / 2, bound], where the bound doubles
    /// from `base` per failure up to `cap`. (Half the bound at least: a retry never comes at once.)
    package mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        let bound = min(cap, base * (1 << min(failures, 30)))
        failures += 1
        let half = bound / 2
        let spread = Double(half.components.seconds) + Double(half.components.attoseconds) / 1e18
        return half + .seconds(Double.random(in: 0...spread, using: &generator))
    }

    package mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// After a success: the next failure waits `base` again.
    package mutating func reset() { failures = 0 }
}
