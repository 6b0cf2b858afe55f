#if canImport(Glibc)
import Glibc
#endif

/// How the process's allocator gives memory back.
package enum ProcessMemory {
    /// Serves allocations of 64 KiB and more (disk reads, TLS records, hot-set promotions) from
    /// their own mappings, returned to the system when freed. glibc's default threshold rises to
    /// the largest block freed so far, after which such buffers come from the heap, whose pages
    /// stay resident after a burst: `scripts/bench-edge` peaked 40 MiB higher and the abuse
    /// suite ended 64 MiB above its start with it, 20 MiB with this. Call once, before serving.
    package static func returnLargeBlocks() {
        #if canImport(Glibc)
        // <malloc.h> is not part of Swift's Glibc module: look `mallopt` up by name.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(mmapThreshold, 64 << 10)
        #endif
    }
}
