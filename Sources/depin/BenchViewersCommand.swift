import ArgumentParser
import Foundation
import Glibc
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

/// `depin bench-viewers`: viewers that behave like Low-Latency HLS players against one edge (used
/// by scripts/bench-live). Each has its own TLS connection speaking HTTP/2 and loops: a blocking
/// playlist reload for the part the last playlist hinted (`_HLS_msn`, `_HLS_part`), then that
/// part. All of them run on one event loop, so the load generator takes at most one core.
///
/// It prints the parts delivered per second, the time from a part's end (its program date time
/// plus its offset and duration: when the ingest had it whole) to its last byte at a viewer, and
/// how far behind real time each viewer is when a part arrives (now less the part's program date
/// time plus offset), p50/p99/max over the parts fetched after the warm-up.
struct BenchViewersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-viewers",
        abstract: "Run Low-Latency HLS viewers against one edge and time the parts they get.",
        shouldDisplay: false
    )

    @Option(help: "A live media playlist's https URL with its token.") var url: String
    @Option(name: .customLong("ca-file"), help: "PEM certificate the edge's TLS chain ends in.") var caFile: String
    @Option(help: "Viewers, each on its own connection.") var viewers = 2000
    @Option(help: "Seconds to run after the last viewer connected.") var seconds = 30.0
    @Option(help: "Seconds after the last viewer connected that are not counted.") var warmup = 5.0
    @Option(name: .customLong("connect-rate"), help: "Viewers connecting per second.") var connectRate = 400
    @Flag(inversion: .prefixedNo, help: "Ask for delta updates (_HLS_skip=YES) with each blocking reload.") var deltaUpdates = true

    func validate() throws {
        guard (1...20_000).contains(viewers) else { throw ValidationError("--viewers must be 1 to 20000") }
        guard seconds > warmup, warmup >= 0 else { throw ValidationError("--seconds must be more than --warmup") }
        guard connectRate > 0 else { throw ValidationError("--connect-rate must be positive") }
    }

    func run() async throws {
        guard let parsed = URLComponents(string: url), parsed.scheme == "https", let host = parsed.host, let port = parsed.port,
            let query = parsed.percentEncodedQuery, parsed.path.hasSuffix(".m3u8")
        else { throw ValidationError("--url must be https://HOST:PORT/…/NAME.m3u8?token=…") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(caFile)
        tls.applicationProtocols = ["h2"]
        let context = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let target = Target(
            host: host, port: port, folder: String(parsed.path[..<parsed.path.lastIndex(of: "/")!]), playlist: parsed.path,
            query: query, reloadQuery: deltaUpdates ? "&_HLS_skip=YES" : "")
        let tally = Tally()
        // Connections open at the rate asked for, each without waiting for the one before.
        let all = (0..<viewers).map { _ in Viewer(target: target, loop: loop, tally: tally) }
        let connected = all.enumerated().map { index, viewer in
            loop.flatScheduleTask(in: .nanoseconds(Int64(index) * 1_000_000_000 / Int64(connectRate))) { viewer.connect(context: context) }.futureResult
                .map { true }.recover { error in
                    print("bench-viewers: a viewer could not connect: \(error)")
                    return false
                }
        }
        let opened = try await EventLoopFuture.whenAllSucceed(connected, on: loop).get().filter { $0 }.count
        try await Task.sleep(for: .seconds(warmup))
        let from = (edge: Self.sum(edgePIDs, Self.cpuSeconds), own: LiveCommand.cpuSeconds(), at: ContinuousClock.now)
        try await loop.submit { tally.countFrom = Clock.now }.get()
        try await Task.sleep(for: .seconds(seconds - warmup))
        let summary = try await loop.submit {
            tally.stopped = true
            return tally.summary(seconds: seconds - warmup)
        }.get()
        let span = (ContinuousClock.now - from.at) / .seconds(1)
        let to = (edge: Self.sum(edgePIDs, Self.cpuSeconds), own: LiveCommand.cpuSeconds())
        for viewer in all { viewer.close() }
        try? await group.shutdownGracefully()
        print("bench-viewers: \(opened) viewers connected over HTTP/2 (\(viewers - opened) could not), \(String(format: "%.0f", seconds - warmup)) s counted after \(String(format: "%.0f", warmup)) s of warm-up")
        print(summary)
        if let before = from.edge, let after = to.edge {
            let peak = Self.sum(edgePIDs, Self.peakResidentMiB).map { "\($0) MiB" } ?? "unknown"
            let pids = edgePIDs.map(String.init).joined(separator: ", ")
            print(String(format: "%@ (pid %@): %.2f cores while counted, peak RSS %@; these viewers took %.2f cores", edgeName, pids, (after - before) / span, peak, (to.own - from.own) / span))
        }
    }

    @Option(name: .customLong("edge-pid"), help: "A process of the server under test (repeat for several, as nginx's master and workers): their CPU and peak RSS added up are reported.")
    var edgePIDs: [Int32] = []
    @Option(name: .customLong("edge-name"), help: "What to call the server under test in the report.") var edgeName = "edge"

    /// User and system CPU seconds of a process, from /proc.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// `figure` of each of `pids` added up (peak RSS: shared pages count in each); nil when there
    /// are none or one cannot be read.
    static func sum<Figure: AdditiveArithmetic>(_ pids: [Int32], _ figure: (Int32) -> Figure?) -> Figure? {
        let each = pids.compactMap(figure)
        return each.isEmpty || each.count < pids.count ? nil : each.reduce(.zero, +)
    }

    static func peakResidentMiB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        else { return nil }
        return kib / 1024
    }
}

/// Wall-clock seconds since 1970, as program date times are.
private enum Clock {
    static var now: Double { Date().timeIntervalSince1970 }
}

private struct Target: Sendable {
    let host: String
    let port: Int
    /// The playlist's folder and path, and its query (the token).
    let folder: String
    let playlist: String
    let query: String
    /// Added to each blocking reload's query.
    let reloadQuery: String
}

/// What all the viewers measured. Confined to the one event loop.
private final class Tally: @unchecked Sendable {
    var countFrom = Double.infinity
    var stopped = false
    var latencies: [Double] = []
    var behind: [Double] = []
    var parts = Set<String>()
    var delivered = 0
    var failures: [String: Int] = [:]

    func fail(_ what: String) { failures[what, default: 0] += 1 }

    func summary(seconds: Double) -> String {
        func spread(_ values: [Double]) -> String {
            guard !values.isEmpty else { return "no samples" }
            let sorted = values.sorted()
            func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
            return String(format: "p50 %.3f s, p99 %.3f s, max %.3f s", at(0.5), at(0.99), sorted.last!)
        }
        let failed = failures.isEmpty ? "none" : failures.sorted { $0.key < $1.key }.map { "\($0.key) × \($0.value)" }.joined(separator: ", ")
        return """
            parts delivered: \(delivered) (\(String(format: "%.0f", Double(delivered) / seconds))/s); distinct parts seen: \(parts.count)
            a part's end at the ingest -> its last byte at a viewer: \(spread(latencies))
            behind real time when a part arrives (now - its program date time): \(spread(behind))
            failures: \(failed)
            """
    }
}

/// One LL-HLS player on its own HTTP/2 connection. Confined to its event loop.
private final class Viewer: @unchecked Sendable {
    let target: Target
    let loop: any EventLoop
    let tally: Tally
    private var channel: (any Channel)?
    private var connection: ViewerConnection?

    init(target: Target, loop: any EventLoop, tally: Tally) {
        self.target = target
        self.loop = loop
        self.tally = tally
    }

    func connect(context: NIOSSLContext) -> EventLoopFuture<Void> {
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                }
            }
            .connect(host: target.host, port: target.port)
            .flatMapThrowing { channel in
                // Frames, no stream channels: one request at a time needs no multiplexer. Windows
                // as Chromium opens them: 6 MiB a stream, 15 MiB for the connection.
                let settings =
                    nioDefaultSettings.filter { $0.parameter != .initialWindowSize }
                    + [HTTP2Setting(parameter: .initialWindowSize, value: ViewerConnection.streamWindow)]
                let connection = ViewerConnection(authority: "\(self.target.host):\(self.target.port)")
                try channel.pipeline.syncOperations.addHandlers([NIOHTTP2Handler(mode: .client, initialSettings: settings), connection])
                self.channel = channel
                self.connection = connection
                self.reload(wanting: nil)
            }
    }

    func close() { loop.execute { self.channel?.close(promise: nil) } }

    /// The part a playlist hinted: its URI (with the token) and numbers.
    struct Hint {
        let uri: String
        let sequence: Int
        let part: Int
    }

    /// Asks for the playlist (a blocking reload until it lists `wanted`), then for `wanted`.
    private func reload(wanting wanted: Hint?) {
        guard !tally.stopped else { return }
        let query = target.query + (wanted.map { "&_HLS_msn=\($0.sequence)&_HLS_part=\($0.part)" + target.reloadQuery } ?? "")
        get(target.playlist + "?" + query, keepBody: true) { result in
            guard case .success(let body) = result, let bytes = body.map({ Array($0.readableBytesView) }) else {
                self.retry()
                return
            }
            let scan = PlaylistScan(bytes, wanted: wanted?.uri)
            guard let hint = scan.hint else {
                if self.tally.failures["a playlist without a preload hint"] == nil {
                    print("bench-viewers: a playlist without a preload hint:\n\(String(decoding: bytes, as: UTF8.self))")
                }
                self.tally.fail("a playlist without a preload hint")
                self.retry()
                return
            }
            if let wanted, let listed = scan.listed {
                self.fetch(wanted, listed: listed, then: hint)
            } else {
                self.reload(wanting: hint)  // the first playlist: wait for the part it hints
            }
        }
    }

    private func fetch(_ part: Hint, listed: (start: Double, duration: Double), then next: Hint) {
        get(target.folder + "/" + part.uri, keepBody: false) { result in
            guard case .success = result else {
                self.retry()
                return
            }
            let now = Clock.now
            self.tally.parts.insert(Self.name(part.uri))
            if now >= self.tally.countFrom, !self.tally.stopped {
                self.tally.delivered += 1
                self.tally.latencies.append(now - (listed.start + listed.duration))
                self.tally.behind.append(now - listed.start)
            }
            self.reload(wanting: next)
        }
    }

    private func retry() {
        loop.scheduleTask(in: .milliseconds(100)) { self.reload(wanting: nil) }
    }

    static func name(_ uri: String) -> String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }

    /// One request on a new stream; `done` gets the body (if kept) or the failure, which is counted.
    private func get(_ path: String, keepBody: Bool, done: @escaping (Result<ByteBuffer?, any Error>) -> Void) {
        guard let connection else { return }
        connection.get(path, keepBody: keepBody) { status, body in
            if status == 200 {
                done(.success(body))
            } else {
                self.tally.fail(status == 0 ? "connection or stream failed" : "HTTP \(status)")
                done(.failure(ExchangeFailed()))
            }
        }
    }
}

private struct ExchangeFailed: Error {}

/// A viewer's HTTP/2 connection at the frame level, one request at a time: a HEADERS frame
/// out on the next stream, HEADERS and DATA frames back; the connection's flow-control window
/// is topped up once half of it has been read, as a browser does.
private final class ViewerConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let authority: String
    private var context: ChannelHandlerContext?
    private var nextStream = 1
    private var current: (stream: HTTP2StreamID, keepBody: Bool, done: (Int, ByteBuffer?) -> Void)?
    private var status = 0
    private var body: ByteBuffer?

    /// Chromium's windows: each stream's (SETTINGS_INITIAL_WINDOW_SIZE), and the connection's,
    /// which it opens from 64 KiB at once and tops up once half of it has been used.
    static let streamWindow = 6 << 20
    static let connectionWindow = 15 << 20
    /// Bytes read since the connection's window was last topped up.
    private var unacknowledged = 0

    init(authority: String) { self.authority = authority }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let opening = Self.connectionWindow - 65_535
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: opening))), promise: nil)
    }

    func get(_ path: String, keepBody: Bool, done: @escaping (Int, ByteBuffer?) -> Void) {
        guard let context, current == nil else { return done(0, nil) }
        let stream = HTTP2StreamID(nextStream)
        nextStream += 2
        current = (stream, keepBody, done)
        (status, body) = (0, nil)
        let headers = HPACKHeaders([(":method", "GET"), (":scheme", "https"), (":authority", authority), (":path", path)])
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: stream, payload: .headers(.init(headers: headers, endStream: true)))), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let current, frame.streamID == current.stream else { return }
        switch frame.payload {
        case .headers(let headers):
            if let code = headers.headers.first(name: ":status").flatMap(Int.init) { status = code }
            if headers.endStream { finish(status) }
        case .data(let data):
            if case .byteBuffer(let bytes) = data.data {
                if current.keepBody {
                    if body == nil { body = bytes } else { body!.writeImmutableBuffer(bytes) }
                }
                // (A stream's own window, 6 MiB, outlasts its one response.)
                unacknowledged += bytes.readableBytes
                if unacknowledged >= Self.connectionWindow / 2 {
                    context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: unacknowledged))), promise: nil)
                    unacknowledged = 0
                }
            }
            if data.endStream { finish(status) }
        case .rstStream:
            finish(0)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(0)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(0)
        self.context = nil
        context.fireChannelInactive()
    }

    private func finish(_ status: Int) {
        guard let done = current?.done else { return }
        current = nil
        done(status, body)
    }
}

/// What a viewer reads in a live playlist: the start (program date time plus the parts before it
/// in its segment) and duration of the part it waits for, and the preload hint. Reads bytes, not
/// characters: thousands of viewers read a playlist a part.
private struct PlaylistScan {
    var listed: (start: Double, duration: Double)?
    var hint: Viewer.Hint?

    init(_ bytes: [UInt8], wanted: String?) {
        let wantedName = wanted.map { Array(Viewer.name($0).utf8) }
        var date: Double?
        var offset = 0.0
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 10) ?? bytes.count
            let line = bytes[start..<end]
            start = end + 1
            if line.starts(with: Self.dateTag) {
                date = Self.date(line.dropFirst(Self.dateTag.count))
                offset = 0
            } else if line.starts(with: Self.partTag), let uri = Self.uri(in: line), let duration = Self.duration(in: line) {
                if let date, let wantedName, Self.name(uri).elementsEqual(wantedName) { listed = (date + offset, duration) }
                offset += duration
            } else if line.starts(with: Self.hintTag), let uri = Self.uri(in: line) {
                let numbers = Self.name(uri).split(separator: UInt8(ascii: "."))
                if numbers.count == 3, let sequence = Self.integer(numbers[0]), let part = Self.integer(numbers[1]) {
                    hint = Viewer.Hint(uri: String(decoding: uri, as: UTF8.self), sequence: sequence, part: part)
                }
            }
        }
    }

    static let dateTag = Array("#EXT-X-PROGRAM-DATE-TIME:".utf8)
    static let partTag = Array("#EXT-X-PART:".utf8)
    static let hintTag = Array("#EXT-X-PRELOAD-HINT:".utf8)

    static let uriAttribute = Array("URI=\"".utf8)
    static let durationAttribute = Array("DURATION=".utf8)

    /// The `URI="…"` attribute's value.
    static func uri(in line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let at = after(uriAttribute, in: line) else { return nil }
        let value = line[at...]
        return value.firstIndex(of: UInt8(ascii: "\"")).map { value[..<$0] }
    }

    /// The index just past the first `needle` in `line` (a plain scan: the generic search costs
    /// the load generator more than the parsing around it).
    static func after(_ needle: [UInt8], in line: ArraySlice<UInt8>) -> Int? {
        guard let first = needle.first, needle.count <= line.count else { return nil }
        var index = line.startIndex
        let last = line.endIndex - needle.count
        while index <= last {
            if line[index] == first, line[index..<(index + needle.count)].elementsEqual(needle) { return index + needle.count }
            index += 1
        }
        return nil
    }

    /// A URI without its query.
    static func name(_ uri: ArraySlice<UInt8>) -> ArraySlice<UInt8> { uri.prefix { $0 != UInt8(ascii: "?") } }

    static func duration(in line: ArraySlice<UInt8>) -> Double? {
        guard let at = after(durationAttribute, in: line) else { return nil }
        return Double(String(decoding: line[at...].prefix { $0 != UInt8(ascii: ",") }, as: UTF8.self))
    }

    static func integer(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count < 18, digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// `2026-12-06T01:07:14.123Z` as seconds since 1970.
    static func date(_ text: ArraySlice<UInt8>) -> Double? {
        let digits = Array(text)
        guard digits.count >= 20 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int32 {
            digits[from..<(from + count)].reduce(0) { $0 * 10 + Int32($1 &- 48) }
        }
        var parts = tm()
        parts.tm_year = number(0, 4) - 1900
        parts.tm_mon = number(5, 2) - 1
        parts.tm_mday = number(8, 2)
        parts.tm_hour = number(11, 2)
        parts.tm_min = number(14, 2)
        parts.tm_sec = number(17, 2)
        let fraction = digits.count >= 23 && digits[19] == UInt8(ascii: ".") ? Double(number(20, 3)) / 1000 : 0
        return Double(timegm(&parts)) + fraction
    }
}
