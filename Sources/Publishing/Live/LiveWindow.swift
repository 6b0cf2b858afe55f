import Foundation
import HLS
import Media

/// One rung's live playlist as parts arrive: a sliding window of whole segments, the parts of
/// the newest segments, the segment in progress, and a preload hint for the next part.
///
/// Pure state: the packager adds parts and renders; nothing here touches files.
struct LiveWindow {
    let targetDuration: Int
    let partTarget: Double
    /// Whole segments listed.
    let windowSegments: Int
    /// Newest whole segments whose parts stay listed: three, so parts cover about three target
    /// durations behind the live edge, as RFC 8216bis asks.
    let partSegments = 3

    /// Whole segments listed, oldest first, each with all its parts.
    private(set) var finished: [LivePlaylist.Segment] = []
    private(set) var discontinuitySequence = 0
    private(set) var pendingSequence = 0
    private(set) var pending: [LivePlaylist.Part] = []
    private var pendingDate: Date?
    private var pendingDiscontinuity = false
    private(set) var ended = false

    init(targetDuration: Int, partTarget: Double, windowSegments: Int) {
        self.targetDuration = targetDuration
        self.partTarget = partTarget
        self.windowSegments = max(windowSegments, 3)
    }

    /// The newest part listed, as (media sequence, part).
    var lastPart: (sequence: Int, part: Int)? {
        if !pending.isEmpty { return (pendingSequence, pending.count - 1) }
        guard let last = finished.last else { return nil }
        return (last.sequence, last.parts.count - 1)
    }

    static func segmentURI(_ sequence: Int) -> String { "\(sequence).ts" }
    static func partURI(_ sequence: Int, _ part: Int) -> String { "\(sequence).\(part).ts" }

    /// Adds the next part of the segment in progress.
    /// - Returns: the segments that left the window (their files may go from a live host).
    @discardableResult
    mutating func add(part: LivePart) -> [Int] {
        if pending.isEmpty {
            pendingSequence = part.segment
            pendingDate = part.entered
            pendingDiscontinuity = part.discontinuity
        }
        pending.append(LivePlaylist.Part(duration: part.duration, uri: Self.partURI(part.segment, part.part), independent: part.independent))
        guard part.endsSegment else { return [] }
        finished.append(
            LivePlaylist.Segment(
                sequence: pendingSequence, duration: pending.map(\.duration).reduce(0, +), uri: Self.segmentURI(pendingSequence),
                programDateTime: pendingDate ?? part.entered, discontinuity: pendingDiscontinuity, parts: pending))
        pending = []
        pendingSequence += 1
        pendingDiscontinuity = false
        pendingDate = nil
        var gone: [Int] = []
        while finished.count > windowSegments {
            let old = finished.removeFirst()
            if old.discontinuity { discontinuitySequence += 1 }
            gone.append(old.sequence)
        }
        return gone
    }

    /// Every segment and part the playlist lists now, oldest first.
    var listedFiles: [(uri: String, kind: LiveFileKind)] {
        let playlist = playlist(key: nil, reports: [])
        return playlist.segments.flatMap { $0.parts.map { ($0.uri, .part) } + [($0.uri, .segment)] } + playlist.pendingParts.map { ($0.uri, .part) }
    }

    /// The stream ended: the playlist gets EXT-X-ENDLIST and no hint.
    mutating func end() { ended = true }

    /// The playlist now, with `reports` for the other rungs.
    func playlist(key: SegmentKey?, reports: [LivePlaylist.RenditionReport]) -> LivePlaylist {
        let keepPartsFrom = finished.count - partSegments
        var segments = finished
        for index in segments.indices where index < keepPartsFrom || ended { segments[index].parts = [] }
        let hint = ended ? nil : Self.partURI(pendingSequence, pending.count)
        return LivePlaylist(
            targetDuration: targetDuration, partTarget: partTarget, discontinuitySequence: discontinuitySequence, key: key,
            segments: segments, pendingSequence: pendingSequence, pendingParts: ended ? [] : pending,
            pendingDiscontinuity: pendingDiscontinuity, pendingProgramDateTime: pendingDate, preloadHint: hint,
            reports: ended ? [] : reports, endList: ended, canSkipUntil: Double(6 * targetDuration))
    }
}
