/// Puts a live input's timestamps on one increasing 90 kHz output clock.
///
/// A live input's clock cannot be trusted: a streamer's encoder restarts, RTMP rounds to
/// milliseconds, a hostile pusher sends timestamps that jump by years or run backwards. The
/// output keeps every ordinary step between frames as it was, and replaces any step that is not
/// forwards or is longer than `maxStep` with one nominal frame, so the output never goes
/// backwards, never leaps, and a glitch costs at most a frame's worth of drift.
struct LiveTimeline {
    /// One frame at the stream's nominal rate, in 90 kHz ticks.
    let frameTicks: Int64
    /// The longest step kept as it is.
    let maxStep: Int64
    private var lastInput: Int64?
    private(set) var last: Int64
    /// How many steps were replaced so far.
    private(set) var repairs = 0
    /// The last frame's output timestamp less its input one (nil until a frame had one), to
    /// place the other streams' timestamps beside the video's.
    private(set) var offset: Int64?

    /// - Parameters:
    ///   - start: the first output timestamp.
    ///   - frameTicks: one nominal frame.
    ///   - maxStep: the longest step kept (at most half a part, so one gap never overfills a part).
    init(start: Int64, frameTicks: Int64, maxStep: Int64) {
        self.frameTicks = max(frameTicks, 1)
        self.maxStep = max(maxStep, self.frameTicks)
        last = start - self.frameTicks
    }

    /// The output timestamp of a frame whose input timestamp is `input` (nil: none given).
    mutating func map(_ input: Int64?) -> Int64 {
        defer {
            lastInput = input ?? lastInput
            if let input { offset = last &- input }
        }
        guard let input, let previous = lastInput else {
            last += frameTicks
            return last
        }
        let step = input &- previous
        if step > 0, step <= maxStep {
            last += step
        } else {
            last += frameTicks
            repairs += 1
        }
        return last
    }

    /// Continues after a break (a reconnect): the next frame follows the last by one frame,
    /// whatever its input timestamp.
    mutating func restart() { lastInput = nil }
}

/// Where a live stream's parts and segments begin, decided once per frame on the output clock,
/// the same for every rendition (they all see the same frames), so every rung is cut at the same
/// timestamps and every segment begins on a keyframe in every rung.
///
/// A part ends before the frame that would make it longer than the part target, so every part is
/// at most the target and at least the target less one frame; a segment is a fixed number of
/// parts, so its parts' durations add up to it and it is at most `parts × part target`.
struct LiveCutter {
    enum Cut: Equatable {
        /// The frame continues the current part.
        case none
        /// The frame begins part `part` of segment `segment`.
        case part(segment: Int, part: Int)
        /// The frame begins segment `segment` (and its part 0); a keyframe.
        case segment(Int, discontinuity: Bool)
    }

    let partTicks: Int64
    let partsPerSegment: Int
    private var partStart: Int64?
    private var segment = -1
    private var part = 0
    private var breakPending = false

    init(partTicks: Int64, partsPerSegment: Int) {
        self.partTicks = max(partTicks, 1)
        self.partsPerSegment = max(partsPerSegment, 1)
    }

    /// The cut before a frame at `pts` lasting `frameTicks`.
    mutating func cut(at pts: Int64, frameTicks: Int64) -> Cut {
        guard let start = partStart, !breakPending else {
            let discontinuity = breakPending
            breakPending = false
            return beginSegment(at: pts, discontinuity: discontinuity)
        }
        guard pts + frameTicks - start > partTicks else { return .none }
        if part + 1 >= partsPerSegment { return beginSegment(at: pts, discontinuity: false) }
        part += 1
        partStart = pts
        return .part(segment: segment, part: part)
    }

    /// The stream broke off (the pusher went away): the next frame begins a new segment marked
    /// as a discontinuity.
    mutating func breakOff() {
        if partStart != nil { breakPending = true }
    }

    private mutating func beginSegment(at pts: Int64, discontinuity: Bool) -> Cut {
        segment += 1
        part = 0
        partStart = pts
        return .segment(segment, discontinuity: discontinuity)
    }
}
