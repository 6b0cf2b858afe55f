import ArgumentParser
import Crypto
import DePINProtocol
import Foundation

/// `depin receipts`: delivery receipts, checked offline.
struct ReceiptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts", abstract: "Work with delivery receipts.", subcommands: [Verify.self])

    /// `depin receipts verify FILE`.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check receipts (JSON lines, as an edge keeps them in cache.dir/claims/receipts.jsonl, or a JSON array) with the coordinator's public key.",
            discussion: "Exits 0 when every receipt verifies, 1 otherwise, naming each one that does not.")

        @Argument(help: "The receipts file.") var file: String
        @Option(name: .long, help: "The coordinator's raw Ed25519 public key, base64 (as /v1/keys/coordinator gives it).") var key: String?
        @Option(name: .long, help: "Fetch the key from this coordinator instead (http(s)://HOST:PORT).") var coordinator: String?

        func run() async throws {
            let publicKey = try await coordinatorKey()
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let receipts: [Result<DeliveryReceipt, any Error>]
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.hasPrefix("[") {
                do {
                    receipts = try JSONDecoder().decode([DeliveryReceipt].self, from: data).map { .success($0) }
                } catch {
                    throw ValidationError("\(file) is not a JSON array of receipts: \(error)")
                }
            } else {
                receipts = text.split(separator: "\n").map { line in Result { try JSONDecoder().decode(DeliveryReceipt.self, from: Data(line.utf8)) } }
            }
            var verifier = ReceiptVerifier(publicKey: publicKey)
            var good = 0, bytes: Int64 = 0, bad = 0
            var perNode: [String: (receipts: Int, bytes: Int64)] = [:]
            for (index, entry) in receipts.enumerated() {
                switch entry {
                case .success(let receipt) where verifier.verifies(receipt):
                    good += 1
                    bytes += receipt.bytes
                    perNode[receipt.node, default: (0, 0)].receipts += 1
                    perNode[receipt.node, default: (0, 0)].bytes += receipt.bytes
                case .success(let receipt):
                    bad += 1
                    print("receipt \(index + 1) (claim \(receipt.claim)): the signature or its Merkle path does not verify")
                case .failure(let error):
                    bad += 1
                    print("receipt \(index + 1): not a receipt: \(error)")
                }
            }
            for (node, tally) in perNode.sorted(by: { $0.key < $1.key }) {
                print("node \(node): \(tally.receipts) receipts, \(tally.bytes) bytes")
            }
            print("\(good) of \(receipts.count) receipts verify (\(bytes) bytes delivered)\(bad > 0 ? "; \(bad) do not" : "")")
            if bad > 0 || receipts.isEmpty { throw ExitCode(1) }
        }

        private func coordinatorKey() async throws -> Curve25519.Signing.PublicKey {
            var raw: Data?
            if let key {
                raw = Data(base64Encoded: key)
            } else if let coordinator {
                let base = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
                guard let url = URL(string: base + "/v1/keys/coordinator") else { throw ValidationError("--coordinator must be a URL") }
                let answer = try await RouteClient.get(url)
                raw = CoordinatorKey.decode(answer.body)?.rawKey
            } else {
                throw ValidationError("give --key or --coordinator")
            }
            guard let raw, let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
                throw ValidationError("no usable Ed25519 public key (32 bytes, base64)")
            }
            return publicKey
        }
    }
}
