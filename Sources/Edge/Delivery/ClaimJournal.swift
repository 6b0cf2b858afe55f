import DePINProtocol
import Foundation
import Synchronization

/// Where an edge keeps its delivery claims and receipts, so none is lost to a crash or an
/// outage: claims are written (and fsynced) before they are sent, stay pending until the
/// coordinator answers them, and are sent again, with the same ids, until it does; receipts
/// and refusals are appended to their own files as they come.
///
/// Files under the folder: `pending.json` (the unanswered claims, replaced atomically),
/// `receipts.jsonl` and `refused.jsonl` (one JSON object a line, appended).
package final class ClaimJournal: Sendable {
    package let directory: String
    private let pending: Mutex<[DeliveryClaim]>

    /// Opens (making) the folder and reads the claims still pending.
    /// - Throws: when the folder cannot be made or the pending file is unreadable.
    package init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var claims: [DeliveryClaim] = []
        if let data = FileManager.default.contents(atPath: directory + "/pending.json") {
            do {
                claims = try JSONDecoder().decode([DeliveryClaim].self, from: data)
            } catch {
                throw ProtocolError.invalid("\(directory)/pending.json is damaged (\(error)); move it aside to start afresh")
            }
        }
        pending = Mutex(claims)
    }

    /// Claims waiting for an answer, oldest first.
    package var unanswered: [DeliveryClaim] { pending.withLock { $0 } }

    /// Adds new claims and makes them durable before they are sent.
    package func add(_ claims: [DeliveryClaim]) throws {
        guard !claims.isEmpty else { return }
        try pending.withLock { pending in
            let updated = pending + claims
            try persist(updated)
            pending = updated
        }
    }

    /// Records the coordinator's answer: receipts and refusals are appended to their files,
    /// and the claims they answer stop being pending.
    package func settle(_ answer: ClaimAnswer) throws {
        let receiptLines = answer.receipts.map(\.json)
        let refusalLines = try answer.refused.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try append(receiptLines, to: directory + "/receipts.jsonl")
        try append(refusalLines, to: directory + "/refused.jsonl")
        let answered = Set(answer.receipts.map(\.claim) + answer.refused.map(\.claim))
        try pending.withLock { pending in
            let updated = pending.filter { !answered.contains($0.id) }
            try persist(updated)
            pending = updated
        }
    }

    /// Every receipt received so far.
    package func receipts() -> [DeliveryReceipt] {
        guard let text = try? String(contentsOfFile: directory + "/receipts.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(DeliveryReceipt.self, from: Data($0.utf8)) }
    }

    private func persist(_ claims: [DeliveryClaim]) throws {
        let path = directory + "/pending.json"
        let temporary = path + ".tmp"
        let data = try JSONEncoder().encode(claims)
        guard FileManager.default.createFile(atPath: temporary, contents: data) else { throw ProtocolError.invalid("cannot write \(temporary)") }
        try Self.sync(temporary)
        guard rename(temporary, path) == 0 else { throw ProtocolError.invalid("cannot rename \(temporary): errno \(errno)") }
    }

    private func append(_ lines: [String], to path: String) throws {
        guard !lines.isEmpty else { return }
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        guard descriptor >= 0 else { throw ProtocolError.invalid("cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else { throw ProtocolError.invalid("cannot write \(path): errno \(errno)") }
            written += result
        }
        fsync(descriptor)
    }

    private static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw ProtocolError.invalid("cannot open \(path): errno \(errno)") }
        fsync(descriptor)
        close(descriptor)
    }
}
