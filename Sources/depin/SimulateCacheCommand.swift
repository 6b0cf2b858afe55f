import ArgumentParser
import EdgeCache
import Foundation

/// `depin simulate-cache`: replays the synthetic video workload against S3-FIFO and LRU.
struct SimulateCacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-cache",
        abstract: "Compare the edge's eviction policy with LRU on a synthetic video workload (used by scripts/bench-cache)."
    )

    @Option(help: "Titles in the catalogue.") var titles = 1000
    @Option(help: "Viewing sessions over the trace.") var sessions = 40000
    @Option(help: "Zipf exponent of title popularity.") var zipf = 0.9
    @Option(help: "Cold titles read once by the scan.") var scanTitles = 400
    @Option(help: "Cache budgets as percentages of the trace's footprint, comma separated.") var budgets = "2,5,10"
    @Option(help: "Random seed.") var seed: UInt64 = 0x00de_4ab5

    func run() throws {
        var parameters = VideoWorkload.Parameters()
        parameters.titles = titles
        parameters.sessions = sessions
        parameters.zipfExponent = zipf
        parameters.scanTitles = scanTitles
        parameters.seed = seed
        let workload = VideoWorkload(parameters)
        let footprint = workload.footprintBytes
        print("workload: \(titles) titles (Zipf \(zipf)), \(sessions) sessions, 4 s segments, ladder of \(parameters.ladder.count) rungs, scan of \(scanTitles) cold titles")
        print("requests: \(workload.requests.count), distinct bytes: \(footprint / 1_000_000) MB")
        print("budget  policy   miss-ratio  upstream-GB  misses-vs-lru  upstream-vs-lru")
        for text in budgets.split(separator: ",") {
            guard let percent = Double(text.trimmingCharacters(in: .whitespaces)), percent > 0 else {
                throw ValidationError("budget '\(text)' is not a percentage")
            }
            let capacity = Int(Double(footprint) * percent / 100)
            let lru = CacheSimulator.run(LRUPolicy<Int>.self, capacity: capacity, requests: workload.requests)
            let s3 = CacheSimulator.run(S3FIFOPolicy<Int>.self, capacity: capacity, requests: workload.requests)
            for result in [lru, s3] {
                let fewer = 100 * (1 - result.missRatio / lru.missRatio)
                let bytes = Double(result.upstreamBytes) / Double(lru.upstreamBytes)
                print(String(format: "%5.1f%%  %@  %10.4f  %11.1f  %12.1f%%  %15.3f", percent, result.policy.padding(toLength: 7, withPad: " ", startingAt: 0), result.missRatio, Double(result.upstreamBytes) / 1e9, -fewer, bytes))
            }
        }
    }
}
