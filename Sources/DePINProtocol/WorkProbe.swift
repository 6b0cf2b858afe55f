import Crypto
import Foundation
import Synchronization

/// A capacity probe: how many cores a node really has, measured rather than claimed.
///
/// The coordinator sends a random seed and asks for `parts` nonces, one per part, each making
/// `SHA-256(seed ‖ part (4 bytes, big-endian) ‖ nonce (8 bytes, big-endian))` start with `bits`
/// zero bits. Finding one takes `2^bits` hashes on average and no shortcut, and the parts are
/// independent, so a machine finds them all about `cores` times faster than one core does;
/// checking them takes one hash each. The coordinator sizes the probe to the cores the node
/// claims and times it from the moment it handed the probe over: the work done over the time
/// taken, in units of a reference core's hash rate, is the node's measured core count.
public struct WorkProbe: Codable, Sendable, Equatable {
    /// 32 lowercase hex digits.
    public var id: String
    /// 16 random bytes, hex.
    public var seed: String
    public var parts: Int
    public var bits: Int
    /// Seconds since 1970 by which the answer must arrive.
    public var deadline: Int64

    /// The most parts a probe may ask for, and the most leading zero bits.
    public static let maxParts = 1 << 16
    public static let maxBits = 32

    public init(id: String, seed: String, parts: Int, bits: Int, deadline: Int64) {
        self.id = id
        self.seed = seed
        self.parts = parts
        self.bits = bits
        self.deadline = deadline
    }

    /// True when `nonce` solves `part` of a probe with this seed and difficulty.
    public static func accepts(seed: [UInt8], part: Int, nonce: UInt64, bits: Int) -> Bool {
        var input = seed
        Self.append(part: part, nonce: nonce, to: &input)
        return leadingZeroBits(SHA256.hash(data: input), atLeast: bits)
    }

    /// Solves every part on `threads` threads of their own (a probe is CPU work that must not
    /// hold up the caller's tasks), and returns the nonces in part order.
    /// - Parameter stopAt: seconds since 1970 after which the work is given up (nil: never).
    /// - Returns: nil when the probe is malformed (a seed that is not hex, sizes out of range)
    ///   or the work was given up.
    public func solve(threads: Int, stopAt: Double? = nil) async -> [UInt64]? {
        guard let seed = JSONText.bytes(hex: seed), (1...Self.maxParts).contains(parts), (0...Self.maxBits).contains(bits) else { return nil }
        let parts = parts, bits = bits
        let next = Atomic<Int>(0)
        let givenUp = Atomic<Bool>(false)
        let nonces = Mutex([UInt64](repeating: 0, count: parts))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let left = Atomic<Int>(max(1, threads))
            for _ in 0..<max(1, threads) {
                let thread = Thread {
                    var input = seed
                    while true {
                        let part = next.add(1, ordering: .relaxed).oldValue
                        guard part < parts, !givenUp.load(ordering: .relaxed) else { break }
                        if let stopAt, Date().timeIntervalSince1970 > stopAt {
                            givenUp.store(true, ordering: .relaxed)
                            break
                        }
                        let nonce = Self.search(seed: &input, prefix: seed.count, part: part, bits: bits)
                        nonces.withLock { $0[part] = nonce }
                    }
                    if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.resume() }
                }
                thread.start()
            }
        }
        return givenUp.load(ordering: .relaxed) ? nil : nonces.withLock { $0 }
    }

    /// Hashes per second one thread of this machine reaches on probe work, over `seconds`.
    public static func measureRate(seconds: Double) -> Double {
        var input = [UInt8](repeating: 7, count: 16)
        let start = ContinuousClock.now
        var hashes = 0
        var part = 0
        while (ContinuousClock.now - start) < .milliseconds(Int64(seconds * 1000)) {
            // 2^12 hashes on average per part.
            _ = search(seed: &input, prefix: 16, part: part, bits: 12)
            part += 1
            hashes += 1 << 12
        }
        let elapsed = ContinuousClock.now - start
        return Double(hashes) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    private static func search(seed input: inout [UInt8], prefix: Int, part: Int, bits: Int) -> UInt64 {
        var nonce: UInt64 = 0
        while true {
            input.removeSubrange(prefix...)
            append(part: part, nonce: nonce, to: &input)
            if leadingZeroBits(SHA256.hash(data: input), atLeast: bits) { return nonce }
            nonce &+= 1
        }
    }

    private static func append(part: Int, nonce: UInt64, to input: inout [UInt8]) {
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: part).bigEndian) { input.append(contentsOf: $0) }
        withUnsafeBytes(of: nonce.bigEndian) { input.append(contentsOf: $0) }
    }

    private static func leadingZeroBits(_ digest: SHA256.Digest, atLeast bits: Int) -> Bool {
        digest.withUnsafeBytes { bytes in
            var left = bits
            for byte in bytes {
                if left <= 0 { return true }
                if left >= 8 {
                    guard byte == 0 else { return false }
                    left -= 8
                } else {
                    return byte >> (8 - left) == 0
                }
            }
            return left <= 0
        }
    }
}

/// `POST /v1/probes` (signed): a node's answer to a ``WorkProbe``.
public struct WorkProbeAnswer: Codable, Sendable, Equatable, KnownFields {
    public var id: String
    /// One nonce per part, in part order.
    public var nonces: [UInt64]

    public static let knownFields: Set<String> = ["id", "nonces"]
    public static let maxBytes = WorkProbe.maxParts * 21 + 1024

    public init(id: String, nonces: [UInt64]) {
        self.id = id
        self.nonces = nonces
    }
}

/// The coordinator's verdict on a probe answer.
public struct WorkProbeVerdict: Codable, Sendable, Equatable {
    /// `pass` (every nonce right, in time), `fail` (a wrong nonce) or `late`.
    public var outcome: String
    /// Cores as measured by this probe, in reference cores.
    public var measuredCores: Double
    /// What the operator should know (a claim the measurement does not back), if anything.
    public var standing: String?

    public init(outcome: String, measuredCores: Double, standing: String?) {
        self.outcome = outcome
        self.measuredCores = measuredCores
        self.standing = standing
    }
}
