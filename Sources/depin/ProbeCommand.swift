import ArgumentParser
import DePINProtocol
import Foundation

/// `depin probe`: what a coordinator's capacity probe would measure on this machine, before
/// an operator claims its cores at registration.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Measure this machine's cores as the coordinator's capacity probe does.")

    @Option(name: .customLong("core-hash-rate"), help: "The coordinator's reference core rate (hashes per second; its --core-hash-rate).")
    var coreHashRate = 2_000_000.0
    @Option(help: "Seconds to spend measuring.") var seconds = 2.0
    @Option(help: "Threads to use (default: every core this machine reports).") var threads: Int?

    func run() async throws {
        guard coreHashRate >= 1000, (0.1...60).contains(seconds) else { throw ValidationError("--core-hash-rate must be at least 1000 and --seconds 0.1 to 60") }
        let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1 to 1024") }
        let one = WorkProbe.measureRate(seconds: min(1, seconds / 4))
        // A probe as the coordinator would size it for `threads` cores at this machine's own rate.
        let parts = max(4 * threads, Int(Double(threads) * one * seconds / 65536))
        var seed = [UInt8](repeating: 0, count: 16)
        for index in seed.indices { seed[index] = UInt8.random(in: 0...255) }
        let probe = WorkProbe(id: "local", seed: JSONText.hex(seed), parts: min(parts, WorkProbe.maxParts), bits: 16, deadline: 0)
        let start = ContinuousClock.now
        guard await probe.solve(threads: threads) != nil else { throw ValidationError("the probe could not run") }
        let elapsed = ContinuousClock.now - start
        let secondsTaken = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(probe.parts) * 65536 / secondsTaken
        print(String(format: "one thread: %.0f hashes/s; %d threads: %.0f hashes/s (%.2f x one thread)", one, threads, rate, rate / one))
        print(String(format: "measured cores at a reference rate of %.0f hashes/s: %.1f", coreHashRate, rate / coreHashRate))
    }
}
