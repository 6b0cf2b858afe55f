import Foundation
import NIOHTTP1
import TestSupport
import Testing

@Suite("scripts/deploy-edge", .serialized)
struct DeployEdgeTests {
    static let script = repositoryRoot.appendingPathComponent("scripts/deploy-edge").path

    @Test("--dry-run prints the unit, the config and every step, and writes nothing")
    func dryRun() async throws {
        let root = TemporaryDirectory("deploy-dry")
        defer { root.remove() }
        let result = try await run("/bin/bash", [Self.script, "--dry-run", "--binary", depinBinary, "--root", root.path, "--upstream", "https://origin.example/hls"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ExecStart=/usr/local/bin/depin edge --config /etc/depin/edge.conf"))
        #expect(result.output.contains("KillSignal=SIGTERM"))
        #expect(result.output.contains("urls = [\"https://origin.example/hls\"]"))
        #expect(result.output.contains("would install"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
    }

    @Test("installs under a root, renders a config the edge accepts, and starts it where systemd is absent")
    func installAndStart() async throws {
        let root = TemporaryDirectory("deploy-root")
        let origin = TemporaryDirectory("deploy-origin")
        defer {
            if let pid = try? String(contentsOfFile: root.path + "/run/depin-edge.pid", encoding: .utf8), let n = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(n, SIGTERM)
            }
            root.remove()
            origin.remove()
        }
        origin.write("show/hd/0.ts", patternBytes(5000))
        let port = freeLoopbackPort()
        let result = try await run(
            "/bin/bash",
            [Self.script, "--binary", depinBinary, "--root", root.path, "--upstream", "file://\(origin.path)", "--listen", "off",
             "--http-listen", "127.0.0.1:\(port)", "--cache-size", "100MiB"])
        #expect(result.status == 0, "\(result.output)")
        let unit = try String(contentsOfFile: root.path + "/etc/systemd/system/depin-edge.service", encoding: .utf8)
        #expect(unit.contains("[Install]") && unit.contains("Restart=on-failure"))
        #expect(FileManager.default.isExecutableFile(atPath: root.path + "/usr/local/bin/depin"))
        let check = try await run(root.path + "/usr/local/bin/depin", ["edge", "--config", root.path + "/etc/depin/edge.conf", "--check"])
        #expect(check.status == 0 && check.output.contains("100MiB") == false && check.output.contains("104857600"), "\(check.output)")
        var served = ""
        for _ in 0..<100 where served != "200" {
            try await Task.sleep(for: .milliseconds(100))
            served = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v/show/hd/0.ts"]).output
        }
        #expect(served == "200", "log: \((try? String(contentsOfFile: root.path + "/var/log/depin-edge.log", encoding: .utf8)) ?? "")")
    }

    @Test("with --coordinator it makes the node's identity once, prints the id to stake for, and the installed edge registers and is routed once staked")
    func installWithCoordinator() async throws {
        let root = TemporaryDirectory("deploy-coordinated")
        let origin = TemporaryDirectory("deploy-coordinated-origin")
        let coordinator = try await CoordinatorProcess.start(["--db", "sqlite:\(origin.path)/c.sqlite", "--identity", origin.path + "/c.key"])
        defer {
            if let pid = try? String(contentsOfFile: root.path + "/run/depin-edge.pid", encoding: .utf8), let n = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(n, SIGTERM)
            }
            coordinator.stop()
            root.remove()
            origin.remove()
        }
        let port = freeLoopbackPort()
        let arguments = [
            Self.script, "--binary", depinBinary, "--root", root.path, "--listen", "off", "--http-listen", "127.0.0.1:\(port)",
            "--coordinator", coordinator.base, "--class", "server", "--region", "eu-west", "--public-url", "http://127.0.0.1:\(port)",
            "--cores", "8", "--ram", "16", "--cache-size", "100MiB",
        ]
        let result = try await run("/bin/bash", arguments)
        #expect(result.status == 0, "\(result.output)")
        let id = try #require(result.output.firstMatch(of: /made the node identity .*: node ([0-9a-f]{32})/)?.1).description
        #expect(result.output.contains("deposit and bond the server class's stake for node \(id)"))
        let attributes = try FileManager.default.attributesOfItem(atPath: root.path + "/etc/depin/node.key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let client = CoordinatorClient(base: coordinator.base)
        #expect(try await client.admin(id, "deposit", 10_000_000) == 200)
        #expect(try await client.admin(id, "bond", 10_000_000) == 200)
        var routed = false
        for _ in 0..<150 where !routed {
            try await Task.sleep(for: .milliseconds(100))
            routed = try await client.send(.GET, "/v1/nodes/\(id)").json["routed"] as? Bool == true
        }
        #expect(routed, "\((try? String(contentsOfFile: root.path + "/var/log/depin-edge.log", encoding: .utf8)) ?? "")")
        // A second install keeps the identity.
        let again = try await run("/bin/bash", arguments + ["--no-start"])
        #expect(again.status == 0 && again.output.contains("keeping the node identity") && again.output.contains(id), "\(again.output)")
    }

    @Test("a configuration the edge would refuse stops the install before anything is written")
    func refusesBadConfig() async throws {
        let root = TemporaryDirectory("deploy-bad")
        defer { root.remove() }
        let result = try await run("/bin/bash", [Self.script, "--binary", depinBinary, "--root", root.path, "--cache-size", "plenty", "--no-start"])
        #expect(result.status != 0)
        #expect(result.output.contains("cache.size"))
        #expect(!FileManager.default.fileExists(atPath: root.path + "/usr/local/bin/depin"))
    }
}
