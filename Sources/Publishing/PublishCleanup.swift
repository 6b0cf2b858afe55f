import Foundation

/// Removes a publish's staging files when the process is interrupted (SIGINT, SIGTERM), so an
/// interrupted publish leaves nothing behind.
package final class PublishCleanup: @unchecked Sendable {
    // @unchecked: `paths` is only touched under `lock`.
    package static let shared = PublishCleanup()
    private let lock = NSLock()
    private var paths: [String] = []
    private var sources: [any DispatchSourceSignal] = []

    package func register(_ paths: [String]) {
        lock.withLock { self.paths = paths }
        guard sources.isEmpty else { return }
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                for path in lock.withLock({ self.paths }) { try? FileManager.default.removeItem(atPath: path) }
                FileHandle.standardError.write(Data("\npublish interrupted; nothing was written\n".utf8))
                exit(130)
            }
            source.resume()
            sources.append(source)
        }
    }

    package func unregister() { lock.withLock { paths = [] } }
}
