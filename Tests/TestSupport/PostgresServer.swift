import Foundation

/// A real PostgreSQL 15 server (Debian's) started in a temporary folder on a loopback port, for
/// the tests that need one; ``stop()`` shuts it down and removes the folder.
///
/// As root (CI), `initdb` and `postgres` run as the `postgres` user through `runuser`, since
/// they refuse to run as root; otherwise as the current user.
public final class PostgresServer: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched by the test that owns the server.
    public let port: Int
    public let folder: String
    private let process: Process
    public static let binaries = "/usr/lib/postgresql/15/bin"
    /// The time limit tests give a store on this server. The whole suite runs at once on two
    /// cores, so a first migration can take longer than a coordinator's default of 10 s (CI saw
    /// it); the limit only stops a hung test, it does not measure anything.
    public static let storeTimeout: Duration = .seconds(90)

    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    public func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    public static func start() async throws -> PostgresServer {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try PostgresServer() }) }
        }
    }

    private init() throws {
        folder = NSTemporaryDirectory() + "depin-postgres-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot { try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: folder) }
        func command(_ tool: String, _ arguments: [String]) -> (String, [String]) {
            asRoot
                ? ("/usr/sbin/runuser", ["-u", "postgres", "--", Self.binaries + "/" + tool] + arguments) : (Self.binaries + "/" + tool, arguments)
        }
        let (initdb, initArguments) = command("initdb", ["-D", folder + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        let made = try runBlocking(initdb, initArguments)
        guard made.status == 0 else { throw ToolError("initdb failed: \(made.output.suffix(1000))") }
        port = freeLoopbackPort()
        let (postgres, arguments) = command(
            "postgres",
            [
                "-D", folder + "/data", "-p", String(port), "-k", folder, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "full_page_writes=off", "-c", "max_connections=50",
            ])
        process = Process()
        process.executableURL = URL(fileURLWithPath: postgres)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<200 {
            let ready = try runBlocking("/usr/bin/pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres"])
            if ready.status == 0 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw ToolError("PostgreSQL did not start on port \(port)")
    }

    /// Makes a fresh database.
    public func createDatabase(_ name: String) async throws {
        let result = try await run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-c", "CREATE DATABASE \(name)"])
        guard result.status == 0 else { throw ToolError("CREATE DATABASE \(name) failed: \(result.output)") }
    }

    /// Fast shutdown (SIGINT to the postmaster, whose pid is in its pid file: `runuser` does
    /// not pass signals on), then the folder goes.
    public func stop() {
        if process.isRunning {
            let pidFile = (try? String(contentsOfFile: folder + "/data/postmaster.pid", encoding: .utf8)) ?? ""
            if let pid = pidFile.split(separator: "\n").first.flatMap({ Int32($0) }) { kill(pid, SIGINT) }
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: folder)
    }
}
