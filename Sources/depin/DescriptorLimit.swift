#if canImport(Glibc)
import Glibc
#endif

/// The open-file limit a server process runs with.
enum DescriptorLimit {
    /// Raises the soft limit on open descriptors to the hard limit (systemd and shells often
    /// start services at 1,024, a few hundred idle connections' worth) and returns the limit
    /// now in force, or nil when it could not be read.
    @discardableResult
    static func raiseToHardLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
