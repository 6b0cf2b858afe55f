#if canImport(Glibc)
import Glibc
#endif

/// The open-file limit a server process runs with.
package enum DescriptorLimit {
    /// Raises the soft limit on open descriptors to the hard limit (systemd and shells often
    /// start services at 1,024, a few hundred idle connections' worth) and returns the limit
    /// now in force, or nil when it could not be read.
    @discardableResult
    package static func raiseToHardLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// The soft limit on open descriptors now in force: 1,024 if it cannot be read, `Int.max / 2`
    /// if it is unlimited.
    package static var current: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur >= UInt64(Int.max) ? Int.max / 2 : Int(limit.rlim_cur)
    }
}
