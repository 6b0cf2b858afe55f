import ArgumentParser
import DePINProtocol
import Foundation

/// `depin keys generate --out KEYFILE`, `depin keys show --key KEYFILE`: a node's Ed25519 identity.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Node identity keys.",
        subcommands: [Generate.self, Show.self]
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

    /// `depin keys show --key KEYFILE`: the node id of an existing identity.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the node id of a key file.")

        @Option(name: .long, help: "The key file.") var key: String

        func run() throws {
            do {
                print(try NodeIdentity.read(from: key).id)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}
