import CFFmpeg

/// Cuts a stream of H.264 and AAC packets into MPEG-TS segments that each begin on a video
/// keyframe, at the first keyframe at or after the target duration since the segment began.
///
/// Timestamps are moved onto one 90 kHz clock that starts at ``startOffset`` (B-frame decode
/// times stay positive), the same clock every rendition derived later keeps.
struct SegmentWriter: ~Copyable {
    /// Where the first frame lands on the output clock: 1.4 s, as FFmpeg's HLS muxer does.
    static let startOffset: Int64 = 126_000
    static let clock = AVRational(num: 1, den: 90_000)

    private let targetTicks: Int64
    /// Borrowed: the caller keeps both alive for as long as it uses the writer.
    private let videoParameters: UnsafePointer<AVCodecParameters>
    private let audioParameters: UnsafePointer<AVCodecParameters>?
    private let zero: Int64
    private let frameTicks: Int64
    private var output: OutputContainer?
    private var bytes: [UInt8] = []
    private var box: ByteBox
    private var segmentStart: Int64?
    private var videoEnd: Int64 = 0
    private var index = 0
    private let videoDelay: Int
    private var videoPackets = 0
    private var firstVideoPts: Int64?
    private var lastVideoDts: Int64?
    /// Audio packets (already on the output clock) that arrived before the first segment opened.
    private var pendingAudio: [UnsafeMutablePointer<AVPacket>] = []
    private static let maxPendingAudio = 2000
    private let emit: (MediaSegment) throws -> Void

    /// - Parameters:
    ///   - zero: the input's first timestamp on the 90 kHz clock (it becomes ``startOffset``).
    ///   - frameTicks: one frame's duration in 90 kHz ticks, for the last segment's length.
    init(
        target: Double, video: UnsafePointer<AVCodecParameters>, audio: UnsafePointer<AVCodecParameters>?,
        zero: Int64, frameTicks: Int64, emit: @escaping (MediaSegment) throws -> Void
    ) {
        targetTicks = Int64(target * 90_000)
        videoParameters = video
        audioParameters = audio
        self.zero = zero
        self.frameTicks = max(frameTicks, 1)
        self.videoDelay = Int(max(video.pointee.video_delay, 0))
        self.emit = emit
        box = ByteBox()
    }

    deinit {
        for packet in pendingAudio {
            var owned: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&owned)
        }
    }

    /// Writes one packet whose timestamps are in `timeBase`; `video` says which stream it is.
    /// Takes the packet's payload.
    mutating func write(_ packet: UnsafeMutablePointer<AVPacket>, video: Bool, timeBase: AVRational) throws {
        guard packet.pointee.dts != shim_AV_NOPTS_VALUE() || packet.pointee.pts != shim_AV_NOPTS_VALUE() else {
            av_packet_unref(packet)
            return
        }
        let missingDts = packet.pointee.dts == shim_AV_NOPTS_VALUE()
        if packet.pointee.pts == shim_AV_NOPTS_VALUE() { packet.pointee.pts = packet.pointee.dts }
        if missingDts { packet.pointee.dts = packet.pointee.pts }
        av_packet_rescale_ts(packet, timeBase, Self.clock)
        packet.pointee.pts += Self.startOffset - zero
        packet.pointee.dts += Self.startOffset - zero
        if video { repairDecodeTime(packet, missing: missingDts) }
        guard packet.pointee.dts >= 0 else {
            // Before the start (an edit list's pre-roll): nothing a player would show.
            av_packet_unref(packet)
            return
        }
        if video {
            let keyframe = packet.pointee.flags & AV_PKT_FLAG_KEY != 0
            let pts = packet.pointee.pts
            if let start = segmentStart {
                if keyframe && pts - start >= targetTicks - frameTicks / 2 {
                    try close(endingAt: pts)
                }
            } else if !keyframe {
                av_packet_unref(packet)  // a segment must begin on a keyframe
                return
            }
            if segmentStart == nil { try open(at: pts) }
            let duration = packet.pointee.duration > 0 ? packet.pointee.duration : frameTicks
            videoEnd = max(videoEnd, pts + duration)
            try output!.write(packet, stream: 0, timeBase: Self.clock)
        } else {
            guard audioParameters != nil else {
                av_packet_unref(packet)
                return
            }
            guard output != nil else {
                // Audio ahead of the first keyframe (an encoder's delay): keep it for segment 0.
                if pendingAudio.count < Self.maxPendingAudio, let copy = av_packet_clone(packet) { pendingAudio.append(copy) }
                av_packet_unref(packet)
                return
            }
            try output!.write(packet, stream: 1, timeBase: Self.clock)
        }
    }

    /// Gives video packets the increasing decode times MPEG-TS needs. Matroska leaves the first
    /// packets of a B-frame stream without one: they decode before the first presented frame,
    /// one frame apart per frame of reorder delay. Any decode time that does not increase is
    /// moved just past the previous one.
    private mutating func repairDecodeTime(_ packet: UnsafeMutablePointer<AVPacket>, missing: Bool) {
        if firstVideoPts == nil { firstVideoPts = packet.pointee.pts }
        if missing {
            if videoPackets < videoDelay {
                packet.pointee.dts = firstVideoPts! - Int64(videoDelay - videoPackets) * frameTicks
            } else if let last = lastVideoDts {
                packet.pointee.dts = last + 1
            }
        }
        if let last = lastVideoDts, packet.pointee.dts <= last { packet.pointee.dts = last + 1 }
        if packet.pointee.pts < packet.pointee.dts { packet.pointee.pts = packet.pointee.dts }
        lastVideoDts = packet.pointee.dts
        videoPackets += 1
    }

    /// Closes the last segment.
    mutating func finish() throws {
        if segmentStart != nil { try close(endingAt: videoEnd) }
    }

    /// Seconds of video written so far.
    var secondsWritten: Double { Double(max(videoEnd - Self.startOffset, 0)) / 90_000 }

    private mutating func open(at pts: Int64) throws {
        box.bytes.removeAll(keepingCapacity: true)
        let box = self.box
        var container = try OutputContainer { box.bytes.append(contentsOf: $0) }
        try container.addStream(parameters: videoParameters)
        if let audioParameters { try container.addStream(parameters: audioParameters) }
        try container.writeHeader()
        output = .some(consume container)
        segmentStart = pts
        let pending = pendingAudio
        pendingAudio = []
        defer {
            for packet in pending {
                var owned: UnsafeMutablePointer<AVPacket>? = packet
                av_packet_free(&owned)
            }
        }
        for packet in pending { try output!.write(packet, stream: 1, timeBase: Self.clock) }
    }

    private mutating func close(endingAt end: Int64) throws {
        guard let start = segmentStart else { return }
        try output?.finish()
        output = nil
        let segment = MediaSegment(index: index, duration: Double(end - start) / 90_000, bytes: box.bytes)
        index += 1
        segmentStart = nil
        try emit(segment)
    }
}

/// Muxed bytes collected by an output's sink (one segment at a time, on the muxing thread).
final class ByteBox {
    var bytes: [UInt8] = []
}

/// One keyframe-aligned MPEG-TS segment, not yet encrypted.
public struct MediaSegment: Sendable {
    /// Position in the rendition, from 0 (the HLS media sequence number).
    public var index: Int
    /// Seconds from this segment's first frame to the next segment's.
    public var duration: Double
    /// The MPEG-TS bytes.
    public var bytes: [UInt8]
}
