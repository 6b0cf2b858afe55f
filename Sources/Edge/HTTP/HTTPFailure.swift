import EdgeCache
import HTTPTypes
import Hummingbird
import NIOCore

/// A request the edge cannot answer with content: a status and one line saying why.
struct HTTPFailure: Error {
    let status: HTTPResponse.Status
    let message: String
    var extraHeaders = HTTPFields()

    static func badRequest(_ message: String) -> Self { .init(status: .badRequest, message: message) }
    static func notFound(_ message: String) -> Self { .init(status: .notFound, message: message) }
    static func unavailable(_ message: String) -> Self { .init(status: .serviceUnavailable, message: message) }
    static func methodNotAllowed(_ method: HTTPRequest.Method) -> Self {
        var failure = Self(status: .methodNotAllowed, message: "method \(method) is not allowed here; use GET or HEAD")
        failure.extraHeaders[.allow] = "GET, HEAD, OPTIONS"
        return failure
    }
    static func rangeNotSatisfiable(_ reason: String, length: Int) -> Self {
        var failure = Self(status: .rangeNotSatisfiable, message: "range not satisfiable: \(reason)")
        failure.extraHeaders[.contentRange] = "bytes */\(length)"
        failure.extraHeaders[.acceptRanges] = "bytes"
        return failure
    }

    /// Maps a failed fill to what the client sees: 404 if no origin has it, 504 if they timed
    /// out, 502 otherwise.
    static func fromFill(_ error: any Error) -> Self {
        if let origin = error as? OriginError {
            switch origin.code {
            case .notFound: return .init(status: .notFound, message: "not found at any upstream: \(origin.message)")
            case .timedOut: return .init(status: .gatewayTimeout, message: "upstream timed out: \(origin.message)")
            case .invalid, .unavailable: return .init(status: .badGateway, message: "upstream failed: \(origin.message)")
            case .production: return .init(status: .badGateway, message: origin.message)
            }
        }
        if error is CancellationError { return .unavailable("the edge is shutting down") }
        return .init(status: .badGateway, message: "fill failed: \(error)")
    }

    var answer: Answer {
        var headers = extraHeaders
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        CORS.add(to: &headers)
        let body = ByteBuffer(string: message + "\n")
        headers[.contentLength] = String(body.readableBytes)
        return Answer(status: status, headers: headers, body: .buffers([body]))
    }

    var response: Response { answer.response }
}
