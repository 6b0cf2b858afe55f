import Foundation
import HLS

/// Where a transcoding edge gets a title's content key.
package protocol ContentKeyProvider: Sendable {
    /// The 16-byte AES-128 key of `content`.
    /// - Throws: ``TranscodeFailure`` when there is none.
    func key(for content: String) async throws -> [UInt8]
}

/// Keys kept as `CONTENT.key` files in one folder (what `depin publish` writes beside a title).
/// The coordinator's per-task key leases replace this once an edge has a coordinator.
package struct KeyDirectory: ContentKeyProvider {
    package let path: String

    package init(path: String) { self.path = path }

    package func key(for content: String) throws -> [UInt8] {
        let file = path + "/" + content + ".key"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TranscodeFailure.source("no content key for \(content) (looked for \(file))")
        }
        guard data.count == SegmentCipher.keyLength else {
            throw TranscodeFailure.source("\(file) is \(data.count) bytes; a content key is \(SegmentCipher.keyLength)")
        }
        return Array(data)
    }
}
