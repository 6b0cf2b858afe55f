#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// An origin that is a folder on this machine (`file:///srv/hls`), read on NIO's thread pool.
package struct FileOrigin: Origin {
    package let root: String
    package var chunkSize = 256 * 1024

    package init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    package var description: String { "file://\(root)" }

    package func fetch(
        _ key: CacheKey,
        from offset: Int,
        onHead: (OriginHead) async throws -> Void,
        onChunk: (ByteBuffer) async throws -> Void
    ) async throws {
        let path = "\(root)/\(key.content)/\(key.path)"
        let file: FileDescriptor
        do {
            file = try FileDescriptor(opening: path, flags: O_RDONLY)
        } catch {
            if error.systemError == ENOENT || error.systemError == ENOTDIR { throw OriginError.notFound("\(description)/\(key)") }
            throw OriginError.unavailable("\(description)/\(key): \(error)")
        }
        var st = stat()
        guard fstat(file.fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw OriginError.notFound("\(description)/\(key) (not a regular file)")
        }
        let total = Int(st.st_size)
        let start = min(offset, total)
        try await onHead(OriginHead(offset: start, totalLength: total, lastModified: Int64(st.st_mtim.tv_sec)))
        var position = start
        while position < total {
            let chunk = try await file.readAsync(at: position, length: min(chunkSize, total - position))
            if chunk.readableBytes == 0 { throw OriginError.unavailable("\(description)/\(key) shrank while being read") }
            position += chunk.readableBytes
            try await onChunk(chunk)
        }
    }
}
