#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket connected to 127.0.0.1:`port` (with a small receive buffer if asked), or nil.
/// The caller closes it.
public func connectLoopback(port: Int, receiveBuffer: Int32? = nil) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// Makes `recv` on `fd` give up after `seconds`.
public func setReceiveTimeout(_ fd: Int32, seconds: Int) {
    var timeout = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
}

/// A loopback port that was free a moment ago (nothing listens on it now).
public func freeLoopbackPort() -> Int {
    let (fd, port) = boundLoopbackSocket()
    close(fd)
    return port
}

/// A TCP socket bound to a free loopback port, not listening, and that port.
private func boundLoopbackSocket() -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A loopback port nothing answers on, and nothing else can take while it is held: a socket bound
/// to it that never listens (connections to it are refused). A port from ``freeLoopbackPort()``
/// is free only until another test's server binds it, and the test suites start servers at once.
public final class DeadLoopbackPort: Sendable {
    public let port: Int
    private let fd: Int32

    public init() { (fd, port) = boundLoopbackSocket() }

    deinit { close(fd) }
}

/// Nil when `got` is `expected` byte for byte, else a short account of how they differ. A failed
/// `#expect(a == b)` on two collections is described with their difference (Myers), which for a
/// 700 KB segment against a short error body ran for more than 15 minutes in CI: compare bytes
/// with `#expect(byteMismatch(a, b) == nil)` instead.
public func byteMismatch(_ got: some Sequence<UInt8>, _ expected: some Sequence<UInt8>) -> String? {
    let (a, b) = (Array(got), Array(expected))
    guard a != b else { return nil }
    let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
    return "got \(a.count) bytes, expected \(b.count); they differ from byte \(first); got begins \(String(decoding: a.prefix(200), as: UTF8.self).debugDescription)"
}
