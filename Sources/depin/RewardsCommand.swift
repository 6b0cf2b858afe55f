import ArgumentParser
import Coordinator
import Crypto
import DePINProtocol
import Foundation

/// `depin rewards`: the reward calculator and the settled epochs.
struct RewardsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewards", abstract: "Estimate rewards, list settled epochs, explain a payout.",
        subcommands: [Estimate.self, Epochs.self, Explain.self])

    /// `depin rewards estimate`.
    struct Estimate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "estimate",
            abstract: "The whitepaper's calculator, made sound: a share of the pool, never more than the pool.",
            discussion: """
                points = task weight (hosting 1.5, transcoding 2.0, delivery 1.0) x (0.4 cores + 0.3 Mbps + 0.3 GB RAM) x GB verified,
                reward = pool x points / (points + the rest of the network's points).
                """)

        @Option(name: .customLong("class"), help: "mobile, pc or server.") var deviceClass: String
        @Option(help: "Cores.") var cores: Int
        @Option(help: "GB of RAM.") var ram: Double
        @Option(help: "Mbit/s of bandwidth, as receipts would show it (claimed bandwidth counts only as far as receipts show it).") var mbps: Double
        @Option(help: "The epoch's pool, DHB.") var pool: Double
        @Option(name: .customLong("delivered-gb"), help: "GB delivered with receipts in the epoch.") var deliveredGB = 100.0
        @Option(name: .customLong("hosted-gb"), help: "GB hosted, all challenges passed.") var hostedGB = 0.0
        @Option(name: .customLong("transcoded-gb"), help: "GB of renditions made that passed audits or were not sampled (pc class).") var transcodedGB = 0.0
        @Option(name: .customLong("network-points"), help: "Points of the rest of the network (default: the last settled epoch's, with --coordinator; else 0).")
        var networkPoints: Double?
        @Option(help: "A coordinator to take the network's points from (http(s)://HOST:PORT).") var coordinator: String?

        func run() async throws {
            guard let deviceClass = DeviceClass.named(self.deviceClass) else { throw ValidationError("--class must be mobile, pc or server") }
            guard cores > 0, ram > 0, mbps >= 0, pool >= 0, pool < 1e10, deliveredGB >= 0, hostedGB >= 0, transcodedGB >= 0 else {
                throw ValidationError("cores and RAM must be positive; Mbps, pool and volumes not negative")
            }
            if !deviceClass.tasks.contains(.delivery) && deliveredGB > 0 {
                print("note: class \(deviceClass.name) does not deliver; its delivered volume counts for nothing")
            }
            if !deviceClass.tasks.contains(.transcoding) && transcodedGB > 0 {
                print("note: class \(deviceClass.name) does not transcode; its transcoded volume counts for nothing")
            }
            let inputs = MinerInputs(
                miner: "you", deviceClass: deviceClass.name, cores: cores, ramGB: ram, mbpsClaimed: mbps, mbpsMeasured: mbps,
                deliveredBytes: deviceClass.tasks.contains(.delivery) ? Int64(deliveredGB * 1e9) : 0, hostedBytes: Int64(hostedGB * 1e9),
                transcodedBytes: deviceClass.tasks.contains(.transcoding) ? Int64(transcodedGB * 1e9) : 0, challengesPassed: hostedGB > 0 ? 1 : 0, challengesTotal: hostedGB > 0 ? 1 : 0, reputation: 1)
            var others = networkPoints ?? 0
            if networkPoints == nil, let coordinator {
                let list = try await Self.get(coordinator, "/v1/epochs")
                if let latest = (list["epochs"] as? [[String: Any]])?.first, let number = latest["epoch"] as? Int {
                    let report = try await Self.get(coordinator, "/v1/epochs/\(number)")
                    others = report["totalPoints"] as? Double ?? 0
                    print("the rest of the network: \(String(format: "%.2f", others)) points in epoch \(number)")
                }
            }
            let points = Settlement.points(inputs)
            let poolUnits = Int64(pool * Double(DeviceClass.baseUnitsPerDHB))
            let score = Settlement.resourceScore(inputs)
            let share = points + others > 0 ? points / (points + others) : 0
            let reward = min(poolUnits, Int64((Double(poolUnits) * share).rounded(.down)))
            print(String(format: "resource score %.2f (0.4 x %d cores + 0.3 x %.1f Mbps + 0.3 x %.1f GB)", score, cores, mbps, ram))
            print(String(format: "points %.2f; share %.4f%% of the pool", points, share * 100))
            print("reward \(Self.dhb(reward)) DHB of a pool of \(Self.dhb(poolUnits)) DHB (never more than the pool)")
            let naive = 1.0 * score * pool
            if naive > pool { print(String(format: "(the whitepaper's sample, weight x score x pool, would say %.2f DHB: more than the pool holds)", naive)) }
        }

        static func get(_ coordinator: String, _ path: String) async throws -> [String: Any] {
            let base = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
            guard let url = URL(string: base + path) else { throw ValidationError("--coordinator must be a URL") }
            let answer = try await RouteClient.get(url)
            guard answer.status == 200, let json = try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any] else {
                throw ValidationError("\(base)\(path): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
            }
            return json
        }

        static func dhb(_ units: Int64) -> String { PayoutExplanation.dhb(units) }
    }

    /// `depin rewards epochs`.
    struct Epochs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "epochs", abstract: "List settled epochs.")
        @Option(help: "The coordinator (http(s)://HOST:PORT).") var coordinator: String

        func run() async throws {
            let list = try await Estimate.get(coordinator, "/v1/epochs")
            let epochs = list["epochs"] as? [[String: Any]] ?? []
            if epochs.isEmpty { print("no settled epoch yet") }
            for epoch in epochs {
                let pool = (epoch["pool"] as? NSNumber)?.int64Value ?? 0, paid = (epoch["paid"] as? NSNumber)?.int64Value ?? 0
                print("epoch \(epoch["epoch"] ?? "?"): pool \(Estimate.dhb(pool)) DHB, paid \(Estimate.dhb(paid)) DHB to \(epoch["miners"] ?? 0) miners, carried \(Estimate.dhb(pool - paid)), root \(epoch["root"] ?? "")")
            }
        }
    }

    /// `depin rewards explain`.
    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "explain", abstract: "Show every input behind one miner's payout in a settled epoch, and check its proof.")
        @Option(help: "The coordinator (http(s)://HOST:PORT).") var coordinator: String
        @Option(help: "The epoch.") var epoch: Int64
        @Option(help: "The miner's node id.") var miner: String

        func run() async throws {
            let base = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
            guard let url = URL(string: "\(base)/v1/epochs/\(epoch)/miners/\(miner)") else { throw ValidationError("--coordinator must be a URL") }
            let answer = try await RouteClient.get(url)
            guard answer.status == 200 else {
                FileHandle.standardError.write(Data("explain: \(answer.status): \(String(decoding: answer.body, as: UTF8.self))\n".utf8))
                throw ExitCode(1)
            }
            let explanation = try JSONDecoder().decode(MinerExplanation.self, from: answer.body)
            PayoutExplanation.terms(explanation).forEach { print($0) }
            var key: Curve25519.Signing.PublicKey?
            if explanation.proof != nil, let keyAnswer = try? await Estimate.get(base, "/v1/keys/coordinator"),
                let raw = (keyAnswer["publicKey"] as? String).flatMap({ Data(base64Encoded: $0) })
            {
                key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            }
            let check = PayoutExplanation.check(explanation, key: key)
            print(PayoutExplanation.proofLine(explanation, check))
            if check.inTree != nil && !check.valid { throw ExitCode(1) }
        }
    }
}
