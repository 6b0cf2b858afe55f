import DePINProtocol
import Foundation

/// A published title: its manifest (JSON) and its content key sealed under the coordinator's key.
package struct ContentRecord: Sendable, Equatable {
    package var id: String
    package var manifest: String
    package var sealedKey: String
    package var createdAt: Int64

    package init(id: String, manifest: String, sealedKey: String, createdAt: Int64) {
        self.id = id
        self.manifest = manifest
        self.sealedKey = sealedKey
        self.createdAt = createdAt
    }
}

/// Work the coordinator gave one node for one title: hosting (keep the title's source), transcoding
/// (make its renditions, with a key lease), delivery (serve it to viewers, filling from its hosts).
package struct TaskRecord: Sendable, Equatable, Codable {
    package enum Kind: String, Sendable, Codable, CaseIterable {
        case hosting
        case transcoding
        case delivery
    }
    /// Assigned by the store: increasing per store, never reused.
    package var sequence: Int64?
    package var node: String
    package var content: String
    package var kind: Kind
    package var createdAt: Int64
    /// When the node reported the task done (hosting: every file held and checked).
    package var doneAt: Int64?

    package init(sequence: Int64? = nil, node: String, content: String, kind: Kind, createdAt: Int64, doneAt: Int64? = nil) {
        self.sequence = sequence
        self.node = node
        self.content = content
        self.kind = kind
        self.createdAt = createdAt
        self.doneAt = doneAt
    }
}
