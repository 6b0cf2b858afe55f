import CFFmpeg
import DePINProtocol
import Foundation

/// One finished part of one rung of a live stream: plaintext MPEG-TS that continues the rung's
/// previous part byte for byte, so a segment is its parts concatenated.
public struct LivePart: Sendable {
    /// Index into the ladder's renditions.
    public var rendition: Int
    /// The segment's number (its media sequence number), from 0.
    public var segment: Int
    /// The part's number within its segment, from 0.
    public var part: Int
    /// The part begins with a keyframe (every segment's part 0 does).
    public var independent: Bool
    /// The part begins the first segment after the stream broke off.
    public var discontinuity: Bool
    /// Seconds from its first frame to the next part's.
    public var duration: Double
    /// The part is its segment's last.
    public var endsSegment: Bool
    /// When its first frame entered the ingest (the segment's program date time for part 0).
    public var entered: Date
    public var bytes: [UInt8]
}

/// What a live ladder hands on: the bytes of a part as they are muxed, then the part whole.
public enum LiveOutput: Sendable {
    /// More plaintext of a part still being made, in order: every video frame's bytes as soon as
    /// it is encoded, so a part can travel while it is made. The `.finished` part that follows
    /// carries all of them again (and whatever the muxer held back).
    case growing(rendition: Int, segment: Int, part: Int, entered: Date, bytes: [UInt8])
    case finished(LivePart)
}

/// The encoders and muxers of a live ladder: one thread per picture size, which scales each
/// decoded picture once and encodes it into every rung of that size with libx264 tuned for
/// latency (no B-frames, no look-ahead, keyframes only where the ingest forces them), and cuts
/// every rung's MPEG-TS into parts at the frames the ingest's ``LiveCutter`` chose. Audio is
/// encoded once by the ingest and the same AAC packets go into every rung.
///
/// Lives as long as the stream, across the pusher's reconnects, so every rung is one continuous
/// MPEG-TS with one continuous clock.
final class LiveLadder {
    private let groups: [LiveSizeGroup]
    private var stopped = false

    /// - Parameters:
    ///   - audio: the AAC encoder's parameters, nil for a stream without sound.
    ///   - sink: called with each part's bytes as they are made and with each finished part, from
    ///     the encoding threads, one call at a time.
    init(
        renditions: [Rendition], settings: EncoderSettings, frameRate: AVRational, gopFrames: Int,
        audio: UnsafePointer<AVCodecParameters>?, sink: @escaping (LiveOutput) -> Void
    ) throws {
        let lock = NSLock()
        let serialized: (LiveOutput) -> Void = { output in lock.withLock { sink(output) } }
        var groups: [LiveSizeGroup] = []
        for (index, rendition) in renditions.enumerated() {
            let encoder = try CodecContext.h264Encoder(
                width: rendition.width, height: rendition.height, timeBase: LiveIngest.clock, frameRate: frameRate,
                bitrate: rendition.videoBitrate, maxBitrate: rendition.maxBitrate, gopFrames: gopFrames, settings: settings, live: true)
            let target = try LiveRung(index: index, encoder: encoder, audio: audio, sink: serialized)
            if let group = groups.first(where: { $0.width == rendition.width && $0.height == rendition.height }) {
                group.rungs.append(target)
            } else {
                let scaler = try Scaler(width: rendition.width, height: rendition.height, threads: 1)
                groups.append(try LiveSizeGroup(scaler: Owned(scaler), first: target))
            }
        }
        self.groups = groups
        groups.forEach { $0.start() }
    }

    deinit { stop() }

    /// Hands `picture` (its pts on the output clock) to every size, with where it falls.
    func encode(_ picture: UnsafeMutablePointer<AVFrame>, cut: LiveCutter.Cut, frameTicks: Int64, entered: Date) throws {
        for group in groups {
            guard let copy = av_frame_clone(picture) else { throw MediaError.outOfMemory("a picture reference") }
            try group.push(.picture(copy, cut, frameTicks: frameTicks, entered: entered))
        }
    }

    /// Adds one AAC packet (timestamps on the output clock) to every rung.
    func addAudio(_ packet: UnsafeMutablePointer<AVPacket>) throws {
        for group in groups {
            guard let copy = av_packet_clone(packet) else { throw MediaError.outOfMemory("a packet reference") }
            try group.push(.audio(copy))
        }
    }

    /// Ends the current part and segment now (the pusher went away, or the stream ended).
    func closeSegment() throws {
        for group in groups { try group.push(.close) }
    }

    /// Ends every rung and waits for the threads.
    /// - Throws: the first error any thread met.
    func finish() throws {
        try closeSegment()
        stop()
        for group in groups { if let failure = group.failure { throw failure } }
    }

    /// The first error any encoding thread met, if one did.
    var failure: (any Error)? { groups.lazy.compactMap(\.failure).first }

    private func stop() {
        guard !stopped else { return }
        stopped = true
        groups.forEach { $0.end() }
        groups.forEach { $0.waitUntilFinished() }
    }
}

/// One rung's encoder and muxer, and the part it is filling.
private final class LiveRung {
    struct OpenPart {
        var segment: Int
        var part: Int
        var independent: Bool
        var discontinuity: Bool
        var start: Int64
        var entered: Date
    }

    let index: Int
    let encoder: Owned<CodecContext>
    private var output: OutputContainer
    private let bytes = ByteBox()
    private let sink: (LiveOutput) -> Void
    private var open: OpenPart?
    /// How many of the open part's bytes went out as `.growing`.
    private var sent = 0
    /// The end of the last frame written, on the output clock.
    private var end: Int64 = 0

    init(index: Int, encoder: consuming CodecContext, audio: UnsafePointer<AVCodecParameters>?, sink: @escaping (LiveOutput) -> Void) throws {
        self.index = index
        let box = bytes
        var output = try OutputContainer(interleaved: false) { box.bytes.append(contentsOf: $0) }
        try output.addStream(encoder: encoder.pointer)
        if let audio { try output.addStream(parameters: audio) }
        try output.writeHeader()
        self.output = output
        self.encoder = Owned(encoder)
        self.sink = sink
    }

    /// Ends the open part before a frame at `pts`, or at the end of the last frame when nil.
    func closePart(at pts: Int64?, endsSegment: Bool) throws {
        guard let part = open else { return }
        try output.flushPackets()
        let stop = pts ?? end
        sink(
            .finished(
                LivePart(
                    rendition: index, segment: part.segment, part: part.part, independent: part.independent,
                    discontinuity: part.discontinuity, duration: Double(max(stop - part.start, 0)) / 90_000,
                    endsSegment: endsSegment, entered: part.entered, bytes: bytes.bytes)))
        bytes.bytes.removeAll(keepingCapacity: true)
        sent = 0
        open = nil
    }

    func openPart(_ cut: LiveCutter.Cut, at pts: Int64, entered: Date) throws {
        switch cut {
        case .none: return
        case .part(let segment, let part):
            open = OpenPart(segment: segment, part: part, independent: false, discontinuity: false, start: pts, entered: entered)
        case .segment(let segment, let discontinuity):
            open = OpenPart(segment: segment, part: 0, independent: true, discontinuity: discontinuity, start: pts, entered: entered)
        }
        // Each part starts with the PAT and PMT, so a player can begin at any part.
        try output.resendHeaders()
    }

    func write(video packet: UnsafeMutablePointer<AVPacket>, frameTicks: Int64) throws {
        end = max(end, packet.pointee.pts + (packet.pointee.duration > 0 ? packet.pointee.duration : frameTicks))
        try output.write(packet, stream: 0, timeBase: LiveIngest.clock)
        // The frame's TS packets leave now (audio waits in the muxer for a whole PES as before).
        output.flush()
        if let part = open, bytes.bytes.count > sent {
            sink(.growing(rendition: index, segment: part.segment, part: part.part, entered: part.entered, bytes: Array(bytes.bytes[sent...])))
            sent = bytes.bytes.count
        }
    }

    func write(audio packet: UnsafeMutablePointer<AVPacket>) throws {
        // Audio that would not move the stream's clock forwards is dropped, never muxed.
        guard open != nil, output.streamCount > 1, packet.pointee.dts > lastAudio else { return av_packet_unref(packet) }
        lastAudio = packet.pointee.dts
        try output.write(packet, stream: 1, timeBase: LiveIngest.clock)
    }

    private var lastAudio = Int64.min
}

/// One picture size of a live ladder and the thread that scales to it and encodes every rung of it.
///
/// `@unchecked Sendable`: the FFmpeg objects are used by the group's own thread alone once it
/// started; the queue is the feed's.
private final class LiveSizeGroup: @unchecked Sendable {
    enum Item {
        case picture(UnsafeMutablePointer<AVFrame>, LiveCutter.Cut, frameTicks: Int64, entered: Date)
        case audio(UnsafeMutablePointer<AVPacket>)
        case close
    }

    let width: Int
    let height: Int
    var rungs: [LiveRung]
    private let scaler: Owned<Scaler>
    private let packet: Packet
    /// A few pictures: enough to ride out an encoder's uneven pace, few enough for latency.
    private let feed = FeedThread<Item>(capacity: 4, release: LiveSizeGroup.free)

    init(scaler: Owned<Scaler>, first: LiveRung) throws {
        self.scaler = scaler
        width = scaler.value.width
        height = scaler.value.height
        rungs = [first]
        packet = try Packet()
    }

    var failure: (any Error)? { feed.failure }

    func start() {
        feed.start(name: "live-\(height)p", handle: { [self] in try handle($0) }, finish: { [self] in try finishRungs() })
    }

    func push(_ item: Item) throws { try feed.push(item) }

    func end() { feed.end() }

    func waitUntilFinished() { feed.waitUntilFinished() }

    private func handle(_ item: Item) throws {
        defer { Self.free(item) }
        switch item {
        case .picture(let picture, let cut, let frameTicks, let entered):
            let pts = picture.pointee.pts
            if cut != .none {
                let endsSegment = if case .segment = cut { true } else { false }
                for rung in rungs {
                    try rung.closePart(at: pts, endsSegment: endsSegment)
                    try rung.openPart(cut, at: pts, entered: entered)
                }
            }
            let scaled = try scaler.value.scale(picture)
            scaled.pointee.pict_type = if case .segment = cut { AV_PICTURE_TYPE_I } else { AV_PICTURE_TYPE_NONE }
            for rung in rungs {
                try rung.encoder.value.send(frame: scaled)
                try drain(rung, frameTicks: frameTicks)
            }
        case .audio(let source):
            for rung in rungs {
                try check(av_packet_ref(packet.pointer, source), "copying an audio packet")
                try rung.write(audio: packet.pointer)
            }
        case .close:
            for rung in rungs { try rung.closePart(at: nil, endsSegment: true) }
        }
    }

    private func drain(_ rung: LiveRung, frameTicks: Int64) throws {
        while try rung.encoder.value.receive(packet: packet.pointer) == .ready {
            try rung.write(video: packet.pointer, frameTicks: frameTicks)
        }
    }

    private func finishRungs() throws {
        for rung in rungs {
            try rung.encoder.value.send(frame: nil)
            try drain(rung, frameTicks: 0)
            try rung.closePart(at: nil, endsSegment: true)
        }
    }

    private static func free(_ item: Item) {
        switch item {
        case .picture(let picture, _, _, _): freeFrame(picture)
        case .audio(let packet): freePacket(packet)
        case .close: break
        }
    }
}
