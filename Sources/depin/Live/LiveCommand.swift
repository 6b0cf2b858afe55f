import ArgumentParser
import AsyncHTTPClient
import DePINProtocol
import Foundation
import Glibc
import HLS
import Media
import NIOCore
import Publishing
import Synchronization

/// `depin live --id ID (--listen rtmp://HOST:PORT/APP | --listen srt://HOST:PORT | --input URL)`:
/// takes a live stream in and packages it as encrypted Low-Latency HLS as it comes.
struct LiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Take a live stream in over RTMP or SRT and package it as encrypted Low-Latency HLS.",
        discussion: """
            Listens for one pusher (OBS, ffmpeg) at rtmp://HOST:PORT/APP/STREAMKEY, or at
            srt://HOST:PORT?streamid=STREAMKEY (with --srt-passphrase-file the caller needs that passphrase too, and
            the contribution is encrypted), or reads --input. Decodes once and encodes the whole ladder (the
            source's size and every standard step below it) with keyframes aligned at segment boundaries, and writes
            DIR/ID/master.m3u8, DIR/ID/RUNG/index.m3u8 (parts of --part-seconds in segments of --segment-seconds, a
            sliding window of --window segments), DIR/ID/RUNG/MSN.PART.ts and DIR/ID/RUNG/MSN.ts (AES-128-CBC, IV =
            media sequence number), the key apart at DIR/ID.key. A pusher that drops and comes back within --grace
            seconds continues the title after EXT-X-DISCONTINUITY; when the stream ends the playlists get
            EXT-X-ENDLIST and DIR/ID/manifest.json describes the recording as a VOD title.
            """
    )

    @Option(name: .long, help: "Content id (letters, digits, '_', '-'); default: a random one.") var id: String?
    @Option(name: .long, help: "rtmp://HOST:PORT/APP or srt://HOST:PORT to listen on.") var listen: String?
    @Option(name: .long, help: "Read this URL or file instead of listening.") var input: String?
    @Flag(name: .long, help: "With --input: pace the input at its own speed, as a live pusher would.") var realtime = false
    @Option(name: .customLong("stream-key"), help: "The stream key a pusher must give (default: a random one, printed).") var streamKey: String?
    @Option(name: .customLong("srt-passphrase-file"), help: "With --listen srt://: a file holding the SRT passphrase (10 to 79 characters) callers must give; the contribution is then encrypted.") var srtPassphraseFile: String?
    @Option(name: .long, help: "Output folder.") var out: String
    @Option(name: .customLong("segment-seconds"), help: "Segment target, seconds.") var segmentSeconds: Double = 2
    @Option(name: .customLong("part-seconds"), help: "Part target, seconds.") var partSeconds: Double = 0.5
    @Option(name: .long, help: "Whole segments in each live playlist (at least 3).") var window: Int = 10
    @Option(name: .long, help: "Seconds a dropped pusher has to come back before the stream ends.") var grace: Double = 10
    @Option(name: .long, help: "x264 preset for every rung.") var preset: String = "veryfast"
    @Option(name: .long, help: "x264 threads per rung.") var threads: Int = 1
    @Option(name: .long, help: "Register the live title with this coordinator (http(s)://HOST:PORT): it issues the stream key and chooses the hosting edges.") var coordinator: String?
    @Option(name: .customLong("admin-token-file"), help: "The coordinator's admin token (else DEPIN_COORDINATOR_ADMIN_TOKEN).") var adminTokenFile: String?
    @Option(name: .long, help: "The ingest's latitude (hosts are chosen near it).") var lat: Double = 0
    @Option(name: .long, help: "The ingest's longitude.") var lon: Double = 0
    @Option(name: .customLong("ca-file"), help: "PEM certificate to trust (besides the system's) when pushing to hosting edges over HTTPS.") var caFile: String?

    func validate() throws {
        guard (listen == nil) != (input == nil) else { throw ValidationError("give exactly one of --listen and --input") }
        if srtPassphraseFile != nil, listen?.hasPrefix("srt://") != true { throw ValidationError("--srt-passphrase-file goes with --listen srt://HOST:PORT") }
        guard (3...100).contains(window) else { throw ValidationError("--window must be 3 to 100 segments") }
        guard (1...600).contains(grace) else { throw ValidationError("--grace must be 1 to 600 seconds") }
        if let streamKey, !StreamKey.isValid(streamKey) { throw ValidationError("a stream key is 16 to 64 letters, digits, '_' or '-'") }
        if coordinator != nil, streamKey != nil { throw ValidationError("with --coordinator the coordinator issues the stream key; leave out --stream-key") }
    }

    func run() async throws {
        let contentID = id ?? PublishCommand.randomID()
        guard Identifier.isValid(contentID) else { throw ValidationError("--id '\(contentID)' \(Identifier.rule)") }
        var settings = LiveSettings(segmentSeconds: segmentSeconds, partSeconds: partSeconds)
        settings.encoder.preset = preset
        settings.encoder.threads = threads
        do { try settings.validate() } catch { throw ValidationError("\(error)") }

        let titleFolder = out + "/" + contentID
        let keyPath = out + "/\(contentID).key"
        guard !FileManager.default.fileExists(atPath: titleFolder) else {
            throw ValidationError("\(titleFolder) already exists; choose another --id or remove it")
        }
        let contentKey = SegmentCipher.makeKey()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: keyPath, contents: Data(contentKey), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write the key file \(keyPath)")
        }
        let log = LiveLog()
        // With a coordinator: the title is registered first, so its stream key and hosts are known.
        var network: (coordinator: LiveCoordinator, answer: LiveRegistrationAnswer)?
        if let coordinator {
            let link = try LiveCoordinator(base: coordinator, adminToken: try PublishCommand.adminToken(file: adminTokenFile))
            do {
                network = (link, try await link.register(id: contentID, key: contentKey, latitude: lat, longitude: lon))
            } catch {
                log.say("live: the coordinator did not register \(contentID): \(error)")
                throw ExitCode(1)
            }
        }
        let key = network?.answer.streamKey ?? streamKey ?? StreamKey.make()
        let source = try Self.source(listen: listen, input: input, realtime: realtime, key: key, passphrase: try Self.passphrase(file: srtPassphraseFile))
        let folder = try LiveFolder(root: titleFolder)
        let packager = try LivePackager(
            options: .init(id: contentID, key: contentKey, keyURI: "../../\(contentID).key", windowSegments: window, settings: settings),
            destinations: [folder])
        // A host that went away must be noticed within about a second, not after AsyncHTTPClient
        // tried to reach it for the usual 10 s.
        let client = try ContentRegistrar.hostClient(caFile: caFile, connect: .seconds(1))
        var hosts: LiveHosts?
        var authorize: (@Sendable () -> String?)?
        if let network {
            let pushers = LiveHosts(coordinator: network.coordinator, content: contentID, client: client, packager: packager, log: log.say)
            pushers.add(network.answer.hosts)
            if network.answer.hosts.isEmpty { log.say("live: warning: no edge may host \(contentID) now; it is only in \(titleFolder)") }
            hosts = pushers
            // Each pusher's key is checked with the coordinator as it connects: a key rotated
            // there (POST /v1/live/ID/stream-key) is refused here at once.
            authorize = { Self.blocking { try await network.coordinator.check(id: contentID, streamKey: key) } == true ? nil : "the stream key was revoked at the coordinator" }
        }
        if case .url = source {} else { log.say("live: push to \(Self.pushURL(source, key: key))") }
        let session = try LiveSession(source: source, packager: packager, grace: grace, authorize: authorize, report: log.event)
        let started = ContinuousClock.now
        let cpuBefore = Self.cpuSeconds()
        let manifest: ContentManifest?
        do {
            manifest = try await Self.runOnThread(session)
        } catch {
            log.say("live failed: \(error)")
            try? await client.shutdown()
            throw ExitCode(1)
        }
        await packager.drain()
        if let manifest {
            try LiveRecording.write(manifest: manifest, keyURI: "../../\(contentID).key", into: folder)
        }
        if let network {
            await Self.endAtCoordinator(network.coordinator, id: contentID, recording: manifest, folder: folder, caFile: caFile, log: log)
        }
        _ = hosts  // the pushers and their replacements live until here
        try? await client.shutdown()
        let elapsed = ContinuousClock.now - started
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        log.say(String(format: "live: %.1f s, %.2f cores busy on average", wall, (Self.cpuSeconds() - cpuBefore) / max(wall, 0.001)))
        for line in packager.latency.summary() {
            log.say(String(format: "live: %@: %d parts, entered → stored median %.3f s, p99 %.3f s", line.destination, line.count, line.median, line.p99))
        }
        for failure in folder.failed.prefix(5) { log.say("live: \(failure)") }
        print(contentID)
    }

    static func passphrase(file: String?) throws -> String? {
        guard let file else { return nil }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("cannot read --srt-passphrase-file \(file)") }
        let passphrase = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (10...79).contains(passphrase.utf8.count), passphrase.unicodeScalars.allSatisfy({ $0.isASCII && $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.~".unicodeScalars.contains($0) }) else {
            throw ValidationError("an SRT passphrase is 10 to 79 letters, digits, '-', '_', '.' or '~'")
        }
        return passphrase
    }

    static func source(listen: String?, input: String?, realtime: Bool, key: String, passphrase: String? = nil) throws -> LiveSource {
        if let input { return .url(input, realtime: realtime) }
        guard let listen, let url = URL(string: listen), let host = url.host, let port = url.port, (1...65535).contains(port) else {
            throw ValidationError("--listen must be rtmp://HOST:PORT/APP or srt://HOST:PORT")
        }
        switch url.scheme {
        case "rtmp":
            let app = url.path.split(separator: "/").first.map(String.init) ?? "live"
            guard Identifier.isValid(app) else { throw ValidationError("the RTMP app '\(app)' \(Identifier.rule)") }
            return .rtmp(host: host, port: port, app: app, key: key)
        case "srt":
            return .srt(host: host, port: port, key: key, passphrase: passphrase)
        default:
            throw ValidationError("--listen must be rtmp://HOST:PORT/APP or srt://HOST:PORT")
        }
    }

    static func pushURL(_ source: LiveSource, key: String) -> String {
        switch source {
        case .rtmp(let host, let port, let app, _): "rtmp://\(host):\(port)/\(app)/\(key)"
        case .srt(let host, let port, _, let passphrase): "srt://\(host):\(port)?streamid=\(key)" + (passphrase.map { "&passphrase=\($0)&pbkeylen=16" } ?? "")
        case .url(let url, _): url
        }
    }

    /// Tells the coordinator the stream ended and uploads the recording to the hosts it chose,
    /// as `depin publish` does.
    static func endAtCoordinator(_ coordinator: LiveCoordinator, id: String, recording: ContentManifest?, folder: LiveFolder, caFile: String?, log: LiveLog) async {
        do {
            let hosts = try await coordinator.end(id: id, recording: recording)
            guard let recording else { return log.say("live: \(id) ended at the coordinator; no recording") }
            let results = try await ContentRegistrar.upload(manifest: recording, directory: folder.root, to: hosts, caFile: caFile) { log.say("live: \($0)") }
            let landed = results.filter { $0.failure == nil }.count
            log.say("live: recording \(id) registered at the coordinator; \(landed) of \(hosts.count) hosts hold it")
        } catch {
            log.say("live: ending \(id) at the coordinator failed: \(error) (the recording is whole in \(folder.root); register it with depin publish's upload later)")
        }
    }

    /// Runs async work from the ingest's own thread and waits for it.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) -> T? {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = try? await work()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }
    }

    /// CPU seconds this process has used, user and system.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Runs the blocking session on a thread of its own; SIGINT and SIGTERM end the stream cleanly.
    static func runOnThread(_ session: LiveSession) async throws -> ContentManifest? {
        let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { session.stop() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                nameThisThread("live-ingest")
                do { continuation.resume(returning: try session.run()) } catch { continuation.resume(throwing: error) }
            }
            thread.stackSize = 8 << 20
            thread.name = "live-ingest"
            thread.start()
        }
    }
}

/// What `depin live` says as it goes, on stderr, a line each.
final class LiveLog: Sendable {
    func say(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    func event(_ event: LiveSession.Event) {
        switch event {
        case .waiting(let source): say("live: waiting for a pusher at \(source)")
        case .refused(let why): say("live: \(why)")
        case .started(let info):
            let rungs = info.renditions.map { "\($0.name) \($0.width)x\($0.height) \($0.videoBitrate / 1000) kbit/s" }
            say(String(format: "live: streaming %.2f fps%@, ladder: %@", info.frameRate, info.hasAudio ? " with audio" : "", rungs.joined(separator: ", ")))
        case .dropped(let end): say("live: the pusher's connection ended (\(end)); waiting for it to come back")
        case .ended(let manifest):
            if let manifest {
                say("live: stream ended; recording \(manifest.id): \(manifest.segments.count) segments, \(String(format: "%.1f", manifest.segments.map(\.duration).reduce(0, +))) s")
            } else {
                say("live: stream ended before a whole segment was made; no recording")
            }
        }
    }
}
