import Testing

@testable import Media

@Suite("Live timestamps and cuts")
struct LiveCutsTests {
    @Test("ordinary steps are kept; backwards, frozen and absurd timestamps become one frame; the output only goes forwards")
    func timeline() {
        var timeline = LiveTimeline(start: 126_000, frameTicks: 3000, maxStep: 22_500)
        let inputs: [Int64?] = [900_000, 903_000, 906_003, 906_003, 1, 3001, nil, 90_000 * 86_400 * 365, 90_000 * 86_400 * 365 + 3000, -50]
        let outputs = inputs.map { timeline.map($0) }
        #expect(outputs[0] == 126_000)
        #expect(outputs[1] == 129_000)
        #expect(outputs[2] == 132_003, "an uneven step is kept as it came")
        #expect(outputs[3] == 135_003, "a repeated timestamp becomes one frame")
        #expect(outputs[4] == 138_003, "a leap backwards becomes one frame")
        #expect(outputs[5] == 141_003, "the step after it is kept")
        #expect(outputs[6] == 144_003, "a frame without a timestamp is one frame on")
        #expect(outputs[7] == 147_003, "a leap of a year becomes one frame")
        #expect(outputs[8] == 150_003)
        #expect(outputs[9] == 153_003)
        #expect(zip(outputs, outputs.dropFirst()).allSatisfy { $0 < $1 })
        #expect(timeline.repairs == 4)
        timeline.restart()
        #expect(timeline.map(5_000_000) == 156_003, "after a reconnect the clock continues one frame on")
    }

    @Test("at 30 fps: parts of 15 frames (0.5 s), a segment every 4 parts, on the same frames whatever the rung")
    func thirtyFrames() {
        var cutter = LiveCutter(partTicks: 45_000, partsPerSegment: 4)
        var cuts: [(Int, LiveCutter.Cut)] = []
        for frame in 0..<125 {
            let cut = cutter.cut(at: 126_000 + Int64(frame) * 3000, frameTicks: 3000)
            if cut != .none { cuts.append((frame, cut)) }
        }
        #expect(cuts.map(\.0) == [0, 15, 30, 45, 60, 75, 90, 105, 120])
        #expect(cuts[0].1 == .segment(0, discontinuity: false))
        #expect(cuts[1].1 == .part(segment: 0, part: 1))
        #expect(cuts[3].1 == .part(segment: 0, part: 3))
        #expect(cuts[4].1 == .segment(1, discontinuity: false))
        #expect(cuts[8].1 == .segment(2, discontinuity: false))
    }

    @Test("at 25 fps no part is longer than the target: 12 frames (0.48 s)")
    func twentyFiveFrames() {
        var cutter = LiveCutter(partTicks: 45_000, partsPerSegment: 4)
        var frames: [Int] = []
        for frame in 0..<60 where cutter.cut(at: Int64(frame) * 3600, frameTicks: 3600) != .none { frames.append(frame) }
        #expect(frames == [0, 12, 24, 36, 48])
    }

    @Test("after the pusher breaks off, the next frame begins a segment marked as a discontinuity")
    func breakOff() {
        var cutter = LiveCutter(partTicks: 45_000, partsPerSegment: 4)
        #expect(cutter.cut(at: 0, frameTicks: 3000) == .segment(0, discontinuity: false))
        #expect(cutter.cut(at: 3000, frameTicks: 3000) == .none)
        cutter.breakOff()
        #expect(cutter.cut(at: 6000, frameTicks: 3000) == .segment(1, discontinuity: true))
        #expect(cutter.cut(at: 9000, frameTicks: 3000) == .none)
    }
}
