import CFFmpeg
import DePINProtocol
import Foundation
import Synchronization

/// Where a live stream comes from.
public enum LiveSource: Sendable {
    /// Listen for one RTMP publisher at `rtmp://host:port/app/key`; a publisher naming another
    /// app or stream key is refused.
    case rtmp(host: String, port: Int, app: String, key: String)
    /// Listen for one SRT caller, whose stream id must be the stream key
    /// (`srt://host:port?streamid=KEY`, as OBS and ffmpeg send it). With a `passphrase` the
    /// contribution is encrypted too, and libsrt refuses a caller without it in the handshake
    /// (the stream id travels in clear, as RTMP's key does, so the passphrase is a secret apart).
    case srt(host: String, port: Int, key: String, passphrase: String?)
    /// Any URL or file FFmpeg reads; `realtime` paces a file at its own speed, as a live pusher would.
    case url(String, realtime: Bool)

    /// How it is named in messages (never with the key).
    public var description: String {
        switch self {
        case .rtmp(let host, let port, let app, _): "rtmp://\(host):\(port)/\(app)/…"
        case .srt(let host, let port, _, _): "srt://\(host):\(port)"
        case .url(let url, _): url
        }
    }

    var isListener: Bool { if case .url = self { false } else { true } }

    fileprivate var open: (url: String, options: [String: String]) {
        switch self {
        case .rtmp(let host, let port, let app, let key):
            ("rtmp://\(host):\(port)/\(app)/\(key)", ["listen": "1"])
        case .srt(let host, let port, _, let passphrase):
            // Live mode, 120 ms receive latency; a passphrase makes libsrt refuse any caller that
            // does not hold it (encryption is enforced on a listener that has one).
            (
                "srt://\(host):\(port)",
                ["mode": "listener", "latency": "120000", "transtype": "live"].merging(passphrase.map { ["passphrase": $0, "pbkeylen": "16"] } ?? [:]) { $1 }
            )
        case .url(let url, _):
            (url, [:])
        }
    }

    /// What FFmpeg logs about a pusher as it connects, to be watched for: an RTMP publisher's
    /// wrong app or key (a warning FFmpeg does not act on), an SRT caller's stream id.
    fileprivate var watched: [String] {
        switch self {
        case .rtmp: ["Unexpected stream", "App field don't match up"]
        case .srt: [Self.streamIDLine]
        case .url: []
        }
    }

    private static let streamIDLine = "accept streamid ["

    /// Why the pusher must be refused, judging by the watched line FFmpeg logged (nil: it may
    /// come in, or nothing was logged yet).
    func refusal(_ line: String?) -> String? {
        guard let line else { return nil }
        switch self {
        case .rtmp:
            return "refused a publisher with the wrong stream key (\(line))"
        case .srt(_, _, let key, _):
            // "accept streamid [ID], length N": the id is never repeated in the log.
            let start = line.range(of: Self.streamIDLine)!.upperBound
            let id = line.range(of: "], length ", options: .backwards).map { line[start..<$0.lowerBound] } ?? ""
            if id == key { return nil }
            return id.isEmpty ? "refused an SRT caller without a stream id (the stream key goes in ?streamid=)" : "refused an SRT caller with the wrong stream id"
        case .url:
            return nil
        }
    }
}

/// How a live stream is cut and encoded.
public struct LiveSettings: Sendable {
    /// Target segment length, seconds.
    public var segmentSeconds: Double
    /// Part target, seconds (Low-Latency HLS's PART-TARGET).
    public var partSeconds: Double
    /// libx264 settings for every rung (tuned for latency on top).
    public var encoder: EncoderSettings
    /// Seconds without a packet before a connected pusher counts as gone.
    public var quietSeconds: Double

    public init(segmentSeconds: Double = 2, partSeconds: Double = 0.5, encoder: EncoderSettings = EncoderSettings(preset: "veryfast", threads: 1), quietSeconds: Double = 5) {
        self.segmentSeconds = segmentSeconds
        self.partSeconds = partSeconds
        self.encoder = encoder
        self.quietSeconds = quietSeconds
    }

    /// Parts in a segment: the segment target rounded to whole parts.
    public var partsPerSegment: Int { max(1, Int((segmentSeconds / partSeconds).rounded())) }

    public func validate() throws {
        guard (0.1...2).contains(partSeconds) else { throw ProtocolError.invalid("the part target must be 0.1 to 2 seconds, not \(partSeconds)") }
        guard (partSeconds...10).contains(segmentSeconds) else {
            throw ProtocolError.invalid("the segment target must be from the part target (\(partSeconds) s) to 10 seconds, not \(segmentSeconds)")
        }
        guard (1...120).contains(quietSeconds) else { throw ProtocolError.invalid("the quiet timeout must be 1 to 120 seconds") }
        try encoder.validate()
    }
}

/// What a live stream turned out to be, known at its first picture.
public struct LiveStreamInfo: Sendable {
    /// The rungs, tallest first: the source's own size (named `source`), then every standard
    /// step shorter than it.
    public var renditions: [Rendition]
    public var hasAudio: Bool
    public var frameRate: Double
}

/// Why one pusher's connection ended.
public enum LiveSessionEnd: Sendable, Equatable, CustomStringConvertible {
    /// Its input ended (the pusher stopped, or a file reached its end).
    case ended
    /// No packet for the quiet timeout.
    case quiet
    /// Nobody connected within the wait.
    case nobody
    /// The input broke (garbage, a protocol error); the message says how.
    case broken(String)
    /// ``LiveIngest/stop()`` was called.
    case stopped

    public var description: String {
        switch self {
        case .ended: "the input ended"
        case .quiet: "nothing arrived for the quiet timeout"
        case .nobody: "nobody connected"
        case .broken(let why): why
        case .stopped: "stopped"
        }
    }
}

/// A publisher was refused before anything was read from it.
public struct LiveRefusal: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Takes a live stream in, one pusher connection at a time, and turns it into the parts of
/// every rung: decode once, put the timestamps on one clean clock (``LiveTimeline``), choose
/// part and segment cuts (``LiveCutter``), encode audio once, and hand everything to the ladder
/// (``LiveLadder``). The ladder is made at the first picture and lives across reconnects: a
/// later pusher continues the same rungs after a discontinuity, whatever its size or codec.
///
/// `run` and `finish` are called from one thread; `stop` from any.
public final class LiveIngest: @unchecked Sendable {
    /// The output clock, 90 kHz (MPEG-TS's).
    static let clock = AVRational(num: 1, den: 90_000)
    /// Where the first frame lands on the output clock (as `depin publish`'s segments).
    static let startOffset: Int64 = 126_000

    public let settings: LiveSettings
    private let started: (LiveStreamInfo) -> Void
    private let sink: (LiveOutput) -> Void
    private let interrupt = LiveInterrupt()
    /// Asked once a pusher connected and before anything of it is read: nil lets it in, else why
    /// not (a stream key revoked at the coordinator).
    private let authorize: (@Sendable () -> String?)?

    private var ladder: LiveLadder?
    private var audioEncoder: Owned<CodecContext>?
    private var cutter: LiveCutter
    private var timeline: LiveTimeline?
    private var lastAudioEnd: Int64 = 0
    /// Pictures and decode failures over the stream's life, for the log.
    public private(set) var pictures = 0
    public private(set) var undecodable = 0

    /// - Parameters:
    ///   - started: called once, at the first picture, with the ladder chosen.
    ///   - output: called with every part's bytes as they are made and every finished part, from
    ///     the encoding threads, one call at a time.
    public init(
        settings: LiveSettings, authorize: (@Sendable () -> String?)? = nil, started: @escaping (LiveStreamInfo) -> Void,
        output: @escaping (LiveOutput) -> Void
    ) throws {
        try MediaError.settings(settings.validate)
        self.authorize = authorize
        self.settings = settings
        self.started = started
        self.sink = output
        cutter = LiveCutter(partTicks: Int64(settings.partSeconds * 90_000), partsPerSegment: settings.partsPerSegment)
    }

    /// The rungs for a `width`x`height` source: its own size, then the standard steps below it.
    public static func renditions(width: Int, height: Int) -> [Rendition] {
        let evenWidth = max(width / 2 * 2, 16)
        let evenHeight = max(height / 2 * 2, 16)
        let step = Ladder.standard.last(where: { $0.height >= evenHeight }) ?? Ladder.standard[0]
        let scaled = Double(step.bitrate) * Double(evenWidth * evenHeight) / Double(step.height * step.height * 16 / 9)
        let bitrate = min(max(Int(scaled), 300_000), 20_000_000)
        let source = Rendition(name: "source", width: evenWidth, height: evenHeight, videoBitrate: bitrate)
        return [source] + Ladder.derive(sourceWidth: evenWidth, sourceHeight: evenHeight)
    }

    /// Aborts a `run` that is waiting or reading; later runs return at once.
    public func stop() { interrupt.stopped.store(true, ordering: .relaxed) }

    /// Reads one pusher's connection from `source` until it ends.
    /// - Parameter wait: seconds to wait for a listener's pusher to connect.
    /// - Throws: ``LiveRefusal`` for a pusher with the wrong key; ``MediaError`` when the
    ///   encoders fail (the stream cannot go on).
    public func run(_ source: LiveSource, wait: Double) throws -> LiveSessionEnd {
        if interrupt.stopped.load(ordering: .relaxed) { return .stopped }
        FFmpegLog.reset()
        FFmpegLog.watch(for: source.watched)
        interrupt.arm(seconds: source.isListener ? wait : settings.quietSeconds)
        // A pusher FFmpeg let in with the wrong key is cut off at the next I/O, before its stream is probed.
        interrupt.refuse(for: source)
        defer { interrupt.refuse(for: nil) }
        let (url, options) = source.open
        let input: InputContainer
        do {
            input = try InputContainer(
                url: url, options: options, name: source.description, interrupt: interrupt.callback,
                probe: (bytes: 2_000_000, microseconds: 2_000_000))
        } catch {
            if interrupt.stopped.load(ordering: .relaxed) { return .stopped }
            if let why = source.refusal(FFmpegLog.watchedLine) { throw LiveRefusal(description: why) }
            if interrupt.expired { return source.isListener ? .nobody : .quiet }
            return .broken("\(error)")
        }
        if let why = source.refusal(FFmpegLog.watchedLine) { throw LiveRefusal(description: why) }
        if case .srt = source, FFmpegLog.watchedLine == nil { throw LiveRefusal(description: "refused an SRT caller whose stream id could not be read") }
        if let why = authorize?() { throw LiveRefusal(description: "refused a publisher: \(why)") }
        defer { endSession() }
        return try read(input, realtime: { if case .url(_, true) = source { true } else { false } }())
    }

    /// Ends the stream: closes the last segment, flushes every rung, waits for the encoders.
    public func finish() throws {
        try ladder?.finish()
        ladder = nil
    }

    private func read(_ input: borrowing InputContainer, realtime: Bool) throws -> LiveSessionEnd {
        guard let videoStream = input.bestStream(AVMEDIA_TYPE_VIDEO) else { return .broken("the stream has no video") }
        let decoder: CodecContext
        do {
            decoder = try CodecContext.decoder(for: videoStream, threads: 1)
        } catch {
            return .broken("\(error)")
        }
        let videoBase = videoStream.pointee.time_base
        let rate = MediaInfo.frameRate(videoStream)
        let frameTicks = Int64(90_000 / (rate > 1 && rate <= 240 ? rate : 30))
        let audio = try input.bestStream(AVMEDIA_TYPE_AUDIO).flatMap { try? LiveAudioInput(stream: $0) }
        if timeline == nil {
            timeline = LiveTimeline(start: Self.startOffset, frameTicks: frameTicks, maxStep: Int64(settings.partSeconds * 45_000))
        }
        let packet = try Packet()
        let frame = try Frame()
        let began = ContinuousClock.now
        var firstDts: Int64?
        var failuresInARow = 0

        func pictures(from packet: UnsafeMutablePointer<AVPacket>?) throws {
            do {
                try decoder.send(packet: packet)
                failuresInARow = 0
            } catch {
                undecodable += 1
                failuresInARow += 1
                return
            }
            while true {
                let received: CodecContext.Received
                do { received = try decoder.receive(frame: frame.pointer) } catch {
                    undecodable += 1
                    break
                }
                guard received == .ready else { break }
                defer { frame.unref() }
                try encode(frame.pointer, base: videoBase, frameTicks: frameTicks, hasAudio: audio != nil)
            }
        }

        while true {
            let status = av_read_frame(input.context, packet.pointer)
            if status < 0 {
                if interrupt.stopped.load(ordering: .relaxed) { return .stopped }
                if interrupt.expired { return .quiet }
                try pictures(from: nil)
                return status == shim_AVERROR_EOF() ? .ended : .broken("reading the stream: \(FFmpegLog.explain(status))")
            }
            interrupt.arm(seconds: settings.quietSeconds)
            defer { packet.unref() }
            let index = packet.pointer.pointee.stream_index
            if realtime, packet.pointer.pointee.dts != shim_AV_NOPTS_VALUE() {
                let base = input.context.pointee.streams[Int(index)]!.pointee.time_base
                let at = av_rescale_q(packet.pointer.pointee.dts, base, AVRational(num: 1, den: 1_000_000))
                if firstDts == nil { firstDts = at }
                let due = Duration.microseconds(at - firstDts!)
                let now = ContinuousClock.now - began
                if due > now, due - now < .seconds(5) { Thread.sleep(forTimeInterval: Double((due - now).components.attoseconds) / 1e18 + Double((due - now).components.seconds)) }
            }
            if index == videoStream.pointee.index {
                try pictures(from: packet.pointer)
                if failuresInARow > 250 { return .broken("250 video packets in a row could not be decoded") }
            } else if audio?.streamIndex == index, let ladder, let encoder = audioEncoder {
                if let end = try audio?.process(packet.pointer, encoder: encoder, ladder: ladder, start: audioStart) {
                    lastAudioEnd = max(lastAudioEnd, end)
                }
            }
            if let failure = ladder?.failure { throw failure }
        }
    }

    /// Times, cuts and encodes one decoded picture; the first one of the stream sets up the ladder.
    private func encode(_ picture: UnsafeMutablePointer<AVFrame>, base: AVRational, frameTicks: Int64, hasAudio: Bool) throws {
        guard picture.pointee.width > 0, picture.pointee.height > 0, picture.pointee.width <= 8192, picture.pointee.height <= 8192 else {
            undecodable += 1
            return
        }
        let timestamp = picture.pointee.best_effort_timestamp
        let input = timestamp == shim_AV_NOPTS_VALUE() ? nil : av_rescale_q(timestamp, base, Self.clock)
        let pts = timeline!.map(input)
        if ladder == nil { try makeLadder(width: Int(picture.pointee.width), height: Int(picture.pointee.height), frameTicks: frameTicks, hasAudio: hasAudio) }
        picture.pointee.pts = pts
        let cut = cutter.cut(at: pts, frameTicks: frameTicks)
        try ladder!.encode(picture, cut: cut, frameTicks: frameTicks, entered: Date())
        pictures += 1
    }

    private func makeLadder(width: Int, height: Int, frameTicks: Int64, hasAudio: Bool) throws {
        let renditions = Self.renditions(width: width, height: height)
        var parameters: CodecParameters?
        if hasAudio {
            let encoder = try CodecContext.aacEncoder(sampleRate: 48_000, channels: 2, bitrate: settings.encoder.audioBitrate)
            parameters = try CodecParameters(encoder: encoder.pointer)
            audioEncoder = Owned(encoder)
        }
        let rate = AVRational(num: 90_000, den: Int32(clamping: frameTicks))
        let gop = settings.partsPerSegment * Int((settings.partSeconds * 90_000) / Double(frameTicks)) * 4
        ladder = try LiveLadder(
            renditions: renditions, settings: settings.encoder, frameRate: rate, gopFrames: max(gop, 30),
            audio: parameters?.pointer, sink: sink)
        started(LiveStreamInfo(renditions: renditions, hasAudio: hasAudio, frameRate: 90_000 / Double(frameTicks)))
    }

    /// Where a connection's first audio lands on the output clock: beside the video it came
    /// with, never before audio already written.
    private func audioStart(input: Int64?) -> Int64 {
        var start = (timeline?.last ?? Self.startOffset)
        if let input, let offset = timeline?.offset { start = input + offset }
        return max(start, lastAudioEnd)
    }

    /// After a connection: flush what it left, close the segment, and start the next one clean.
    private func endSession() {
        cutter.breakOff()
        timeline?.restart()
        try? ladder?.closeSegment()
    }
}
