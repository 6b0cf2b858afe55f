import Crypto
import DePINProtocol
import Foundation
import NIOCore
import Synchronization

/// The titles this edge hosts for the coordinator (hosting tasks): each title's manifest,
/// playlists and encrypted source segments under `{root}/{content}/{path}`, outside the cache's
/// byte budget and never evicted. The edge serves them as its first origin.
///
/// A file is written only once it checks out: the manifest must validate and name the title;
/// a segment must be one the manifest lists, with its length and SHA-256; a playlist must be
/// M3U8 text. Writes go to `{root}/.tmp`, are fsynced and renamed into place, so a crash never
/// leaves a torn file. A title's files are immutable: a different manifest is refused.
///
/// Thread-safe: files are independent and each write is one rename.
///
/// ## Performance characteristics
/// Each title's manifest is decoded once and its missing files listed once (from disk, the
/// first time the title is asked about); a stored file then costs a set removal, so uploading a
/// title of n files checks completeness in O(1) per file, not O(n).
package struct HostedStore: Sendable {
    package let root: String
    private let index = Index()

    /// Per title: its manifest and the files of it not stored yet, as this process knows them.
    private final class Index: Sendable {
        let titles = Mutex<[String: (manifest: ContentManifest, missing: Set<String>)]>([:])
    }
    /// The most a manifest or playlist may weigh.
    static let maxTextBytes = 4 << 20

    /// Opens (making) the folder and deletes unfinished writes.
    package init(root: String) throws {
        self.root = root
        try? FileManager.default.removeItem(atPath: root + "/.tmp")
        try FileManager.default.createDirectory(atPath: root + "/.tmp", withIntermediateDirectories: true)
    }

    /// The stored manifest of `content`, if any.
    package func manifest(_ content: String) -> ContentManifest? { entry(content)?.manifest }

    /// Every title with files here, by id, and whether it is whole (read from the folder: for
    /// the status page, not a request path).
    package func titles() -> [(content: String, complete: Bool)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { ($0, isComplete($0)) }
    }

    /// True when `path` is one of the title's hosted files and is not here yet.
    package func lacks(_ content: String, _ path: String) -> Bool { entry(content)?.missing.contains(path) ?? false }

    /// True when every file of the title is here.
    package func isComplete(_ content: String) -> Bool { entry(content)?.missing.isEmpty ?? false }

    /// The title's manifest and missing files: from the index, or read from disk once.
    private func entry(_ content: String) -> (manifest: ContentManifest, missing: Set<String>)? {
        if let known = index.titles.withLock({ $0[content] }) { return known }
        guard let data = FileManager.default.contents(atPath: "\(root)/\(content)/manifest.json"),
            let manifest = try? JSONDecoder().decode(ContentManifest.self, from: data)
        else { return nil }
        // The disk is read under the lock, so a file stored meanwhile is either seen here or
        // removed from the entry by put(), never lost between the two.
        return index.titles.withLock { titles in
            if let known = titles[content] { return known }
            let missing = Set(manifest.hostedFiles.filter { !has(content, $0) })
            titles[content] = (manifest, missing)
            return (manifest, missing)
        }
    }

    package func has(_ content: String, _ path: String) -> Bool { FileManager.default.fileExists(atPath: "\(root)/\(content)/\(path)") }

    /// Checks `body` as the file `path` of `content` and stores it.
    /// - Returns: false when an identical file was already there.
    /// - Throws: ``HostingError`` saying what did not check out; nothing is written then.
    @discardableResult
    package func put(content: String, path: String, body: ByteBuffer) throws(HostingError) -> Bool {
        let bytes = body.readableBytesView
        if path == "manifest.json" {
            guard bytes.count <= Self.maxTextBytes else { throw .invalid("manifest.json is over \(Self.maxTextBytes) bytes") }
            let manifest: ContentManifest
            do {
                manifest = try JSONDecoder().decode(ContentManifest.self, from: Data(bytes))
                try manifest.validate()
            } catch {
                throw .invalid("manifest.json is not a valid manifest: \(error)")
            }
            guard manifest.id == content else { throw .invalid("manifest.json is for \(manifest.id), not \(content)") }
            if let existing = self.manifest(content) {
                guard existing == manifest else { throw .conflict("\(content) is hosted here with another manifest; titles are immutable") }
                return false
            }
        } else {
            guard let manifest = manifest(content) else { throw .conflict("upload \(content)/manifest.json first: files are checked against it") }
            guard manifest.hostedFiles.contains(path) else {
                throw .invalid("\(path) is not a file of \(content) (manifest.json, playlists, the segments it lists)")
            }
            if path.hasSuffix(".m3u8") {
                guard bytes.count <= Self.maxTextBytes, bytes.starts(with: Array("#EXTM3U".utf8)) else {
                    throw .invalid("\(path) is not an M3U8 playlist (it must start with #EXTM3U and be at most \(Self.maxTextBytes) bytes)")
                }
            } else {
                guard let segment = manifest.segment(atPath: path) else { throw .invalid("\(path) is not in the manifest") }
                guard bytes.count == segment.length else {
                    throw .invalid("\(path) is \(bytes.count) bytes; the manifest says \(segment.length)")
                }
                let digest = JSONText.hex(SHA256.hash(data: bytes))
                guard digest == segment.sha256 else { throw .invalid("\(path)'s SHA-256 is not the manifest's: damaged or not this title's") }
                if has(content, path) { return false }
                // The chunk hashes, kept beside the segment, so a challenge costs one chunk read.
                let leaves = Self.leaves(of: bytes)
                guard JSONText.hex(MerkleTree(leafHashes: leaves).root) == segment.merkleRoot else {
                    throw .invalid("\(path)'s Merkle root is not the manifest's")
                }
                try write(Data(leaves.joined()), to: "\(root)/\(content)/\(path).leaves")
            }
            if has(content, path) { return false }
        }
        try write(Data(bytes), to: "\(root)/\(content)/\(path)")
        _ = index.titles.withLock { $0[content]?.missing.remove(path) }
        return true
    }

    /// The chunk `chunk` of source segment `segment` and its Merkle path: the answer to a
    /// proof-of-retrievability challenge. Reads one 64 KiB chunk and the segment's chunk hashes.
    /// - Throws: ``HostingError`` when the segment is not here.
    package func prove(content: String, segment: Int, chunk: Int) throws(HostingError) -> (data: Data, proof: MerkleProof) {
        let path = "\(root)/\(content)/\(ContentManifest.sourceRendition)/\(segment).ts"
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .invalid("\(content) segment \(segment) is not hosted here") }
        defer { close(descriptor) }
        var data = [UInt8](repeating: 0, count: MerkleTree.chunkSize)
        let count = data.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, MerkleTree.chunkSize, off_t(chunk * MerkleTree.chunkSize)) }
        guard count >= 0 else { throw .storage("cannot read \(path): errno \(errno)") }
        var leaves: [UInt8] = []
        if let sidecar = FileManager.default.contents(atPath: path + ".leaves"), sidecar.count % MerkleTree.hashSize == 0, !sidecar.isEmpty {
            leaves = [UInt8](sidecar)
        } else if let whole = FileManager.default.contents(atPath: path) {
            leaves = Array(Self.leaves(of: Array(whole)).joined())
        }
        guard !leaves.isEmpty, let proof = MerkleTree(concatenatedLeaves: leaves).proof(chunk: chunk) else {
            throw .invalid("\(content) segment \(segment) has no chunk \(chunk)")
        }
        return (Data(data[0..<count]), proof)
    }

    /// The leaf hashes of `bytes`' 64 KiB chunks (one empty chunk for no bytes).
    static func leaves(of bytes: some Collection<UInt8>) -> [[UInt8]] {
        let array = Array(bytes)
        return stride(from: 0, to: max(array.count, 1), by: MerkleTree.chunkSize).map {
            MerkleTree.leafHash(array[$0..<min($0 + MerkleTree.chunkSize, array.count)])
        }
    }

    /// The most bytes an upload of `path` may carry: a segment's length in the manifest, or the
    /// text limit for the manifest and playlists (and for anything else, refused on arrival).
    package func uploadLimit(content: String, path: String) -> Int {
        manifest(content)?.segment(atPath: path)?.length ?? Self.maxTextBytes
    }

    /// Reads one stored file.
    package func read(_ content: String, _ path: String) -> Data? { FileManager.default.contents(atPath: "\(root)/\(content)/\(path)") }

    private func write(_ data: Data, to destination: String) throws(HostingError) {
        try replaceFile(at: destination, with: data, staging: root + "/.tmp", sync: true)
    }
}

/// Writes `data` to a new file in `staging` and renames it to `destination` (making its
/// folder), so a reader sees the old file or the new one, never part of one. With `sync`, the
/// data is on disk before the rename (a hosted title must survive a crash; a live part need not).
/// - Throws: ``HostingError/storage(_:)``; the staged file is removed.
func replaceFile(at destination: String, with data: Data, staging: String, sync: Bool) throws(HostingError) {
    let temporary = "\(staging)/\(UUID().uuidString)"
    let folder = (destination as NSString).deletingLastPathComponent
    if !FileManager.default.fileExists(atPath: folder) {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw .storage("cannot make \(folder): \(error)")
        }
    }
    guard FileManager.default.createFile(atPath: temporary, contents: data) else { throw .storage("cannot write \(temporary)") }
    if sync {
        let descriptor = open(temporary, O_RDONLY)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }
    guard rename(temporary, destination) == 0 else {
        unlink(temporary)
        throw .storage("cannot rename into \(destination): errno \(errno)")
    }
}

/// Why a hosted file was refused.
package struct HostingError: Error, CustomStringConvertible {
    package enum Code: Sendable {
        /// 400 / 422: the file does not check out.
        case invalid
        /// 409: it contradicts what is hosted.
        case conflict
        /// 507: the disk failed.
        case storage
    }
    package let code: Code
    package let message: String
    package var description: String { message }

    package static func invalid(_ m: String) -> Self { .init(code: .invalid, message: m) }
    package static func conflict(_ m: String) -> Self { .init(code: .conflict, message: m) }
    package static func storage(_ m: String) -> Self { .init(code: .storage, message: m) }
}
