import DePINProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A refusal with its status and one line saying why; it renders itself as
/// `{"error": "..."}` (Hummingbird's `HTTPResponseError`), so a handler only throws it.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Self.render(message, status: status)
    }

    /// The JSON error answer every refusal of the API has.
    static func render(_ message: String, status: HTTPResponse.Status) -> Response {
        var text = "{\"error\":"
        text += JSONText.quoted(message)
        text += "}"
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A registry refusal answers with the status its code names.
extension RegistryError: HTTPResponseError {
    package var status: HTTPResponse.Status {
        switch code {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .replayed: .conflict
        case .refused: .forbidden
        }
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError.render(message, status: status)
    }
}

/// A store that failed answers 503 (`storage: ...`): the request may succeed later.
extension StoreFailure: HTTPResponseError {
    package var status: HTTPResponse.Status { .serviceUnavailable }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError.render("storage: \(message)", status: status)
    }
}
