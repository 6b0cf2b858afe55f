import Hummingbird
import Logging

/// Runs a Hummingbird router on a random loopback port for as long as `body` runs.
enum LoopbackApp {
    static func with<T: Sendable>(_ router: Router<BasicRequestContext>, label: String, _ body: (Int) async throws -> T) async throws -> T {
        var logger = Logger(label: label)
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress!.port!) }, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next()!
            defer { group.cancelAll() }
            return try await body(port)
        }
    }
}
