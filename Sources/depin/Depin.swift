import ArgumentParser

@main
struct Depin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depin",
        abstract: "DeHub DePIN: the edge node miners run, and the tools around it.",
        subcommands: [EdgeCommand.self, PublishCommand.self, KeysCommand.self, SimulateCacheCommand.self, TranscodeWorkerCommand.self, BenchRouteCommand.self]
    )
}
