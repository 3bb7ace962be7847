import HTTPTypes
import SoukProtobuf
import SoukRPCCore
import SoukWire

/// An error as the REST bridge answers it: grpc-gateway's body,
/// `{"code": 3, "status": "INVALID_ARGUMENT", "message": "...", "details": [{"field", "description"}]}`,
/// under the HTTP status grpc-gateway maps the code to.
struct GatewayError: Error {
    var code: RPCStatusCode
    var message: String
    /// Field violations, with JSON field names (`items[3].unitPrice`).
    var violations: [(field: String, description: String)] = []
    var extraHeaders: HTTPFields = [:]
    /// An HTTP status other than the code's (405 for a wrong verb, 413 for a body too large).
    var statusOverride: Int? = nil

    init(_ code: RPCStatusCode, _ message: String, violations: [(field: String, description: String)] = []) {
        self.code = code
        self.message = message
        self.violations = violations
    }

    /// An error of a service, its field violations renamed to JSON names.
    init(_ error: RPCError) {
        self.init(error.code, error.message)
        if !error.details.isEmpty, let details = try? ErrorDetails(serializedBytes: error.details),
           let badRequest = details.badRequest {
            violations = badRequest.fieldViolations.map { (Self.jsonPath($0.field), $0.description) }
        }
        if error.code == .resourceExhausted, let retryAfter = error.metadata["retry-after"], Int(retryAfter) != nil {
            extraHeaders[.retryAfter] = retryAfter
        }
    }

    /// A request body that is not the request message's JSON: the field at fault, by its path.
    init(_ error: ProtoJSONError) {
        let field = error.fieldPath.isRoot ? "" : error.fieldPath.description
        self.init(.invalidArgument, error.message, violations: field.isEmpty ? [] : [(field, error.message)])
    }

    /// The HTTP status of a gRPC code, as grpc-gateway's runtime.HTTPStatusFromCode.
    static func httpStatus(_ code: RPCStatusCode) -> Int {
        switch code {
        case .ok: 200
        case .cancelled: 499
        case .unknown, .internal, .dataLoss: 500
        case .invalidArgument, .failedPrecondition, .outOfRange: 400
        case .deadlineExceeded: 504
        case .notFound: 404
        case .alreadyExists, .aborted: 409
        case .permissionDenied: 403
        case .resourceExhausted: 429
        case .unimplemented: 501
        case .unavailable: 503
        case .unauthenticated: 401
        }
    }

    var httpStatus: Int { Self.httpStatus(code) }

    /// The body's JSON.
    var body: [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("code")
        writer.value(code.rawValue)
        writer.key("status")
        writer.value(code.name)
        writer.key("message")
        writer.value(message)
        writer.key("details")
        writer.beginArray()
        for violation in violations {
            writer.beginObject()
            writer.key("field")
            writer.value(violation.field)
            writer.key("description")
            writer.value(violation.description)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return Array(writer.string.utf8)
    }

    /// A field path with proto names (`items[3].unit_price`) in JSON names (`items[3].unitPrice`).
    static func jsonPath(_ protoPath: String) -> String {
        protoPath.split(separator: ".", omittingEmptySubsequences: false).map { segment in
            let name = segment.prefix { $0 != "[" }
            return FieldNames.jsonName(name) + segment.dropFirst(name.count)
        }.joined(separator: ".")
    }
}
