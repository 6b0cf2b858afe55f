#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// An open POSIX file, closed exactly once when the last reference goes away.
///
/// `@unchecked Sendable`: the descriptor is immutable after `init`, and `pread`/`pwrite` at explicit
/// offsets are safe to call from several threads at once; nothing else touches it until `deinit`.
package final class FileDescriptor: @unchecked Sendable {
    package let fd: Int32

    package init(opening path: String, flags: Int32, mode: mode_t = 0o644) throws(StoreError) {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StoreError.io("open \(path)", errno: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Reads up to `length` bytes at `offset`; fewer only at the end of the file.
    package func read(at offset: Int, length: Int, allocator: ByteBufferAllocator = .init()) throws(StoreError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: length)
        var done = 0
        while done < length {
            let n = buffer.withUnsafeMutableWritableBytes { raw in
                pread(fd, raw.baseAddress!, length - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("read", errno: errno)
            }
            if n == 0 { break }
            buffer.moveWriterIndex(forwardBy: n)
            done += n
        }
        return buffer
    }

    /// Writes all of `bytes` at `offset`.
    package func write(_ bytes: ByteBuffer, at offset: Int) throws(StoreError) {
        var done = 0
        let total = bytes.readableBytes
        while done < total {
            let n = bytes.withUnsafeReadableBytes { raw in
                pwrite(fd, raw.baseAddress! + done, total - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("write", errno: errno)
            }
            done += n
        }
    }

    package func sync() throws(StoreError) {
        guard fsync(fd) == 0 else { throw StoreError.io("fsync", errno: errno) }
    }

    package func size() throws(StoreError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StoreError.io("fstat", errno: errno) }
        return Int(st.st_size)
    }
}

extension FileDescriptor {
    /// Reads on NIO's blocking-IO thread pool, so a slow disk never stalls the caller's executor.
    package func readAsync(at offset: Int, length: Int) async throws -> ByteBuffer {
        try await NIOThreadPool.singleton.runIfActive { try self.read(at: offset, length: length) }
    }
}

/// A failure of the on-disk store, with the operation and the system's reason.
package struct StoreError: Error, CustomStringConvertible {
    private enum Code {
        case io
        case corrupt
        case tooLarge
    }
    private let code: Code
    package let message: String
    /// The system's error number, for failed system calls.
    package var systemError: Int32? = nil

    static func io(_ operation: String, errno code: Int32) -> Self {
        .init(code: .io, message: "\(operation) failed: \(String(cString: strerror(code)))", systemError: code)
    }
    static func corrupt(_ what: String) -> Self { .init(code: .corrupt, message: "corrupt cache object: \(what)") }
    static func tooLarge(_ what: String) -> Self { .init(code: .tooLarge, message: what) }

    package var description: String { message }
}
