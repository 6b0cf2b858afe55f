import ArgumentParser
import DePINProtocol
import Foundation

/// `depin keys generate --out KEYFILE`: a node's Ed25519 identity.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Node identity keys.",
        subcommands: [Generate.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 key pair for a node (file mode 0600) and print its node id.")

        @Option(name: .long, help: "Where to write the key file (never overwritten).") var out: String

        func run() throws {
            let identity = NodeIdentity()
            do {
                try identity.write(to: out)
            } catch {
                throw ValidationError("\(error)")
            }
            print(identity.id)
            FileHandle.standardError.write(Data("node \(identity.id): key pair written to \(out) (keep it private)\n".utf8))
        }
    }
}
