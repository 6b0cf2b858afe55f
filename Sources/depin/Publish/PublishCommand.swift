import ArgumentParser
import DePINProtocol
import Foundation
import Media
import Publishing

/// `depin publish INPUT --out DIR`: makes an encrypted HLS title from any file FFmpeg reads.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a video as encrypted HLS: keyframe-aligned source segments, playlists, manifest and key.",
        discussion: """
            Writes DIR/ID/master.m3u8, DIR/ID/RENDITION/index.m3u8, DIR/ID/source/N.ts (AES-128-CBC,
            IV = segment number), DIR/ID/manifest.json, and the 16-byte key apart at DIR/ID.key (mode 0600).
            An edge started with --upstream file://DIR serves the title at /v/ID/master.m3u8 and makes
            the other renditions on demand. Nothing is left behind when publishing fails.
            """
    )

    @Argument(help: "The input video (mp4, mov, mkv, ts, or anything FFmpeg reads).") var input: String
    @Option(name: .long, help: "Output folder (the edge's file:// upstream).") var out: String
    @Option(name: .long, help: "Content id (letters, digits, '_', '-'); default: a random one.") var id: String?
    @Option(name: .customLong("segment-seconds"), help: "Target segment duration, 1 to 30 seconds.") var segmentSeconds: Double = 4
    @Option(name: .customLong("key-out"), help: "Where to write the key (default DIR/ID.key).") var keyOut: String?
    @Option(name: .customLong("key-uri"), help: "EXT-X-KEY URI in the playlists (default: the key file, relative).") var keyURI: String?
    @Option(name: .long, help: "x264 threads for re-encoding and for later transcodes of this title.") var threads: Int = 2
    @Option(name: .long, help: "x264 preset for re-encoding and transcodes.") var preset: String = "veryfast"
    @Flag(name: .long, help: "Re-encode even when the input is already H.264 and AAC.") var reencode = false
    @Flag(name: .long, help: "Print the manifest as JSON on stdout when done.") var json = false
    @Option(name: .long, help: "Register the title and its key with this coordinator (http(s)://HOST:PORT).") var coordinator: String?
    @Option(name: .customLong("admin-token-file"), help: "The coordinator's admin token (else DEPIN_COORDINATOR_ADMIN_TOKEN).") var adminTokenFile: String?
    @Option(name: .customLong("ca-file"), help: "PEM certificate to trust (besides the system's) when uploading to hosting edges over HTTPS.") var caFile: String?

    func run() async throws {
        let adminToken = coordinator == nil ? nil : try Self.adminToken(file: adminTokenFile)
        var encoder = EncoderSettings()
        encoder.threads = threads
        encoder.preset = preset
        do { try encoder.validate() } catch { throw ValidationError("\(error)") }
        guard (1...30).contains(segmentSeconds) else { throw ValidationError("--segment-seconds must be 1 to 30") }
        let contentID = id ?? Self.randomID()
        let progress = PublishProgress()
        let publisher = Publisher(
            options: .init(
                input: input, outputDirectory: out, id: contentID, segmentSeconds: segmentSeconds,
                forceReencode: reencode, encoder: encoder, keyOutput: keyOut, keyURI: keyURI),
            progress: progress.handle)
        let result: Publisher.Result
        do {
            result = try publisher.publish()
        } catch {
            progress.finish()
            FileHandle.standardError.write(Data("publish failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
        progress.finish()
        let m = result.manifest
        let total = m.segments.map(\.duration).reduce(0, +)
        FileHandle.standardError.write(Data("""
            published \(m.id): \(m.segments.count) segments, \(String(format: "%.2f", total)) s, \(result.bytes) bytes, \
            \(m.source.width)x\(m.source.height) (video \(m.source.video)), ladder \(m.ladder.map(\.name).joined(separator: " ")), \
            in \(String(format: "%.2f", result.seconds)) s
            master:   \(result.contentDirectory)/master.m3u8
            manifest: \(result.contentDirectory)/manifest.json
            key:      \(result.keyPath)

            """.utf8))
        if let coordinator, let adminToken {
            do {
                let key = try Data(contentsOf: URL(fileURLWithPath: result.keyPath))
                let hosts = try await ContentRegistrar.register(manifest: m, key: key, coordinator: coordinator, adminToken: adminToken)
                FileHandle.standardError.write(Data("registered \(m.id) with \(coordinator); hosts: \(hosts.map(\.id).joined(separator: ", "))\n".utf8))
                let results = try await ContentRegistrar.upload(manifest: m, directory: result.contentDirectory, to: hosts, caFile: caFile) {
                    FileHandle.standardError.write(Data("\($0)\n".utf8))
                }
                let landed = results.filter { $0.failure == nil }.count
                if hosts.isEmpty {
                    FileHandle.standardError.write(Data("warning: no edge may host \(m.id) now (none staked, healthy and with a hosting class); the network serves it only from upstreams that hold \(out)\n".utf8))
                } else if landed == 0 {
                    throw ContentRegistrar.Failure(description: "no hosting edge took the upload")
                } else if landed < hosts.count {
                    FileHandle.standardError.write(Data("\(landed) of \(hosts.count) hosts hold \(m.id); the others copy it from them\n".utf8))
                }
            } catch {
                let message = "published \(m.id) locally, but registering it with \(coordinator) failed: \(error)\n"
                    + "(the title and its key are complete; register them later or publish again with another --id)\n"
                FileHandle.standardError.write(Data(message.utf8))
                throw ExitCode(1)
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(m), as: UTF8.self))
        } else {
            print(m.id)
        }
    }

    /// The coordinator's admin token: from `file`, else DEPIN_COORDINATOR_ADMIN_TOKEN.
    static func adminToken(file: String?) throws -> String {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read \(file)") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token = ProcessInfo.processInfo.environment["DEPIN_COORDINATOR_ADMIN_TOKEN"] else {
            throw ValidationError("--coordinator needs --admin-token-file or DEPIN_COORDINATOR_ADMIN_TOKEN")
        }
        return token
    }

    static func randomID() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        return String((0..<12).map { _ in alphabet.randomElement()! })
    }
}
