import DePINProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The coordinator's request context: Hummingbird's, plus the client's address (for the
/// geo prefix table) and, on the routes that read it first (``ReadsBody``), the request body.
package struct CoordinatorContext: RequestContext, RemoteAddressRequestContext {
    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?
    /// The request body, read whole by ``ReadsBody``.
    var body = Data()

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
