import ArgumentParser

@main
struct Depin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depin",
        abstract: "DeHub DePIN: the edge node miners run, and the tools around it.",
        subcommands: [EdgeCommand.self, CoordinatorCommand.self, PublishCommand.self, LiveCommand.self, RouteCommand.self, KeysCommand.self, SimulateCacheCommand.self, TranscodeWorkerCommand.self, ReceiptsCommand.self, RewardsCommand.self, ProbeCommand.self, BenchRouteCommand.self, BenchReceiptsCommand.self, BenchViewersCommand.self]
    )
}
