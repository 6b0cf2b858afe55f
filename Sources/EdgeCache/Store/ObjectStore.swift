#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import Foundation
import NIOCore

/// The on-disk half of the cache: where object files live and how they are published.
///
/// Layout under the root: `objects/ab/<sha256(key)>.obj` for stored objects, `tmp/` for fills in
/// progress. A fill is written under `tmp/`, fsynced, and renamed into `objects/` only after its
/// hash has been checked, so a crash leaves at worst an orphan in `tmp/`, which ``open()`` deletes.
///
/// Not synchronised: ``EdgeCache`` serialises index changes; file reads and writes of distinct
/// objects are independent.
package struct ObjectStore: Sendable {
    package let root: String
    var objectsDirectory: String { root + "/objects" }
    var temporaryDirectory: String { root + "/tmp" }

    package init(root: String) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    /// A stored object found on disk.
    package struct Found: Sendable {
        package var metadata: ObjectMetadata
        package var path: String
    }

    /// Creates the folders, deletes orphaned fills and unreadable objects, and lists what is stored.
    package func open() throws(StoreError) -> (found: [Found], removed: Int) {
        for dir in [root, objectsDirectory, temporaryDirectory] {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw .io("mkdir \(dir)", errno: errno) }
        }
        let fm = FileManager.default
        var removed = 0
        for name in (try? fm.contentsOfDirectory(atPath: temporaryDirectory)) ?? [] {
            unlink(temporaryDirectory + "/" + name)
            removed += 1
        }
        var found: [Found] = []
        for shard in (try? fm.contentsOfDirectory(atPath: objectsDirectory)) ?? [] {
            let shardPath = objectsDirectory + "/" + shard
            for name in (try? fm.contentsOfDirectory(atPath: shardPath)) ?? [] {
                let path = shardPath + "/" + name
                if let object = try? readObject(at: path), path == self.path(forKey: object.metadata.key) {
                    found.append(object)
                } else {
                    unlink(path)
                    removed += 1
                }
            }
        }
        return (found, removed)
    }

    func readObject(at path: String) throws(StoreError) -> Found {
        let file = try FileDescriptor(opening: path, flags: O_RDONLY)
        var header = try file.read(at: 0, length: ObjectFileFormat.headerSize)
        let metadata = try ObjectFileFormat.decodeHeader(header.readBytes(length: header.readableBytes) ?? [])
        let size = try file.size()
        guard size == ObjectFileFormat.headerSize + metadata.length else {
            throw .corrupt("\(path) holds \(size - ObjectFileFormat.headerSize) body bytes, header says \(metadata.length)")
        }
        return Found(metadata: metadata, path: path)
    }

    /// Where the object for `key` (`content/path`) lives once stored.
    package func path(forKey key: String) -> String {
        let digest = SHA256.hash(data: Array(key.utf8)).hexString
        return "\(objectsDirectory)/\(digest.prefix(2))/\(digest).obj"
    }

    /// Opens a new, empty temporary file for a fill.
    package func makeTemporaryFile() throws(StoreError) -> (path: String, file: FileDescriptor) {
        let path = "\(temporaryDirectory)/\(UInt64.random(in: 0...UInt64.max)).part"
        let file = try FileDescriptor(opening: path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o644)
        return (path, file)
    }

    /// Writes the header, syncs, and atomically renames a finished fill into place.
    /// - Returns: the object's final path.
    package func publish(temporaryPath: String, file: FileDescriptor, metadata: ObjectMetadata) throws(StoreError) -> String {
        let header = try ObjectFileFormat.encodeHeader(metadata)
        try file.write(ByteBuffer(bytes: header), at: 0)
        try file.sync()
        let destination = path(forKey: metadata.key)
        let shard = String(destination[..<destination.lastIndex(of: "/")!])
        if mkdir(shard, 0o755) != 0 && errno != EEXIST { throw .io("mkdir \(shard)", errno: errno) }
        guard rename(temporaryPath, destination) == 0 else { throw .io("rename into \(shard)", errno: errno) }
        return destination
    }

    package func remove(path: String) {
        unlink(path)
    }
}

extension Sequence where Element == UInt8 {
    package var hexString: String {
        var s = ""
        s.reserveCapacity(64)
        for byte in self {
            s += String(byte >> 4, radix: 16) + String(byte & 0xf, radix: 16)
        }
        return s
    }
}
