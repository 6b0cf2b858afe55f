import DePINProtocol
import Foundation
import HLS
import Media

/// One live title from the first pusher to the recording: waits for a pusher, takes its stream
/// in, waits `grace` seconds for it to come back when it drops (the title goes on after an
/// EXT-X-DISCONTINUITY), and when nobody came back, or a file input ended, ends every playlist
/// and turns the recording into a VOD title.
package final class LiveSession: @unchecked Sendable {
    package enum Event: Sendable {
        case waiting(String)
        case refused(String)
        case started(LiveStreamInfo)
        case dropped(LiveSessionEnd)
        case ended(ContentManifest?)
    }

    package let source: LiveSource
    package let packager: LivePackager
    private let ingest: LiveIngest
    private let grace: Double
    private let report: (Event) -> Void

    /// - Parameter grace: seconds a dropped pusher has to come back before the stream ends.
    /// - Parameter authorize: asked when a pusher connects (nil: let it in; else why not).
    package init(
        source: LiveSource, packager: LivePackager, grace: Double, authorize: (@Sendable () -> String?)? = nil,
        report: @escaping (Event) -> Void
    ) throws {
        self.source = source
        self.packager = packager
        self.grace = grace
        self.report = report
        ingest = try LiveIngest(
            settings: packager.options.settings, authorize: authorize, started: { info in packager.started(info); report(.started(info)) },
            output: packager.take)
    }

    /// Ends the stream as soon as the current read returns.
    package func stop() { ingest.stop() }

    /// Runs the stream to its end on the calling thread (blocking: call from a thread of its own).
    /// - Returns: the recording's manifest (nil when no segment was made).
    package func run() throws -> ContentManifest? {
        var streaming = false
        loop: while true {
            if !streaming { report(.waiting(source.description)) }
            let end: LiveSessionEnd
            do {
                end = try ingest.run(source, wait: streaming ? grace : 24 * 3600)
            } catch let refusal as LiveRefusal {
                report(.refused(refusal.description))
                continue
            }
            switch end {
            case .stopped:
                break loop
            case .nobody:
                if streaming { break loop }  // the grace period passed without the pusher
            case .ended, .quiet, .broken:
                guard ingest.pictures > 0 else {
                    report(.dropped(end))
                    if case .url = source { break loop }
                    continue
                }
                streaming = true
                report(.dropped(end))
                if case .url = source { break loop }
            }
        }
        try ingest.finish()
        let manifest = packager.finish()
        report(.ended(manifest))
        return manifest
    }
}
