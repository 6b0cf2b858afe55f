#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// Why bytes of a looked-up object could not be read.
package struct CacheReadError: Error, CustomStringConvertible {
    private enum Code {
        case vanished
        case truncated
    }
    private let code: Code
    package let description: String

    /// The object was evicted between lookup and read: look it up again.
    static func vanished(_ key: CacheKey) -> Self { .init(code: .vanished, description: "\(key) was evicted while being opened") }
    static func truncated(_ key: CacheKey, at offset: Int) -> Self {
        .init(code: .truncated, description: "\(key) ended at byte \(offset), before the requested range")
    }

    /// True when a new lookup will do.
    package var isVanished: Bool { code == .vanished }
}

extension EdgeCache {
    /// An opened stored object (the module and this class share a name, so clients use this).
    package typealias OpenFile = FileDescriptor

    /// Streams `range` of a stored object to `sink`: from the memory hot set when it is there,
    /// otherwise from disk in ``Configuration/readChunkSize`` pieces. A small object read from
    /// disk a second time is read whole once and kept in memory for the requests after it, so a
    /// one-off request never costs more than a chunk of memory.
    /// - Parameter file: the object opened with ``open(_:key:)``; nil opens it here.
    /// - Throws: ``CacheReadError/isVanished`` if the object was evicted before it was opened,
    ///   or what `sink` throws.
    package func read(
        _ entry: Entry, key: CacheKey, file opened: FileDescriptor? = nil, range: Range<Int>, into sink: (ByteBuffer) async throws -> Void
    ) async throws {
        precondition(range.upperBound <= entry.metadata.length, "EdgeCache.read: range past the end")
        if range.isEmpty { return }
        if let bytes = entry.memory ?? memoryCopy(of: key) {
            try await sink(bytes.getSlice(at: bytes.readerIndex + range.lowerBound, length: range.count)!)
            return
        }
        let file = try opened ?? open(entry, key: key)
        let header = ObjectFileFormat.headerSize
        let length = entry.metadata.length
        if length <= configuration.memoryObjectLimit && configuration.memoryCapacity > 0 && isReadAgain(key) {
            let whole = try await file.readAsync(at: header, length: length)
            guard whole.readableBytes == length else {
                forget(key)
                throw StoreError.corrupt("\(key) is shorter on disk than its header says")
            }
            keepInMemory(key, whole)
            try await sink(whole.getSlice(at: whole.readerIndex + range.lowerBound, length: range.count)!)
            return
        }
        var position = range.lowerBound
        while position < range.upperBound {
            let chunk = try await file.readAsync(at: header + position, length: min(configuration.readChunkSize, range.upperBound - position))
            guard chunk.readableBytes > 0 else {
                forget(key)
                throw CacheReadError.truncated(key, at: position)
            }
            position += chunk.readableBytes
            try await sink(chunk)
        }
    }

    /// Opens a stored object's file. Once open it stays readable even if the object is evicted, so
    /// a server opens it before it commits to a response.
    /// - Throws: ``CacheReadError/isVanished`` (after forgetting the object) if it is gone already.
    package func open(_ entry: Entry, key: CacheKey) throws -> FileDescriptor {
        do {
            return try FileDescriptor(opening: entry.path, flags: O_RDONLY)
        } catch {
            if error.systemError == ENOENT {
                forget(key)
                throw CacheReadError.vanished(key)
            }
            throw error
        }
    }

    /// Streams `range` of an object still being filled, as its bytes arrive.
    /// - Parameter range: `nil` upper bound means "to the end, whatever the length turns out to be".
    /// - Throws: the fill's error if it fails, ``CacheReadError`` if it ends before the range.
    package func read(_ fill: Fill, range: Range<Int>?, from start: Int = 0, into sink: (ByteBuffer) async throws -> Void) async throws {
        var position = range?.lowerBound ?? start
        let header = ObjectFileFormat.headerSize
        while true {
            if let range, position >= range.upperBound { return }
            let want = range.map { min(position + configuration.readChunkSize, $0.upperBound) } ?? position + 1
            let (written, complete) = try await fill.available(atLeast: want)
            let end = range.map { min(written, $0.upperBound) } ?? written
            if end <= position {
                if complete {
                    if range == nil { return }
                    throw CacheReadError.truncated(fill.key, at: written)
                }
                continue
            }
            let chunk = try await fill.file.readAsync(at: header + position, length: min(end - position, configuration.readChunkSize))
            guard chunk.readableBytes > 0 else { throw CacheReadError.truncated(fill.key, at: position) }
            position += chunk.readableBytes
            try await sink(chunk)
        }
    }
}

extension EdgeCache {
    /// The whole of `key`: from the cache, or filled from upstream (joining a fill in progress).
    /// For the edge's own use (manifests, source segments to transcode).
    /// - Throws: the fill's error (``OriginError``), or ``StoreError``.
    package func object(_ key: CacheKey) async throws -> ByteBuffer {
        for _ in 0..<3 {
            var whole = ByteBuffer()
            switch try lookup(key) {
            case .stored(let entry):
                do {
                    whole.reserveCapacity(entry.metadata.length)
                    try await read(entry, key: key, range: 0..<entry.metadata.length) { whole.writeImmutableBuffer($0) }
                    return whole
                } catch let error as CacheReadError where error.isVanished {
                    continue
                }
            case .filling(let fill):
                // Every byte written and checked is enough; making it durable can go on meanwhile.
                let (written, _) = try await fill.available(atLeast: Int.max - 1)
                whole.reserveCapacity(written)
                try await read(fill, range: 0..<written) { whole.writeImmutableBuffer($0) }
                return whole
            }
        }
        throw StoreError.corrupt("\(key) kept being evicted while it was read")
    }
}
