import DePINProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The coordinator's request context: Hummingbird's, plus the client's address (for the
/// geo prefix table).
package struct CoordinatorContext: RequestContext, RemoteAddressRequestContext {
    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Runs a handler and turns every failure into a JSON error with the right status.
func answer(_ handler: () async throws -> Response) async throws -> Response {
    do {
        return try await handler()
    } catch let error as APIError {
        return try CoordinatorAPI.json(["error": error.message], status: error.status)
    } catch let error as RegistryError {
        let status: HTTPResponse.Status =
            switch error.code {
            case .badRequest: .badRequest
            case .unauthorized: .unauthorized
            case .replayed: .conflict
            case .refused: .forbidden
            }
        return try CoordinatorAPI.json(["error": error.message], status: status)
    } catch let error as StoreFailure {
        return try CoordinatorAPI.json(["error": "storage: \(error.message)"], status: .serviceUnavailable)
    }
}

struct APIError: Error {
    let status: HTTPResponse.Status
    let message: String
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}
