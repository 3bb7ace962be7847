import SoukProtobuf

/// An rpc exposed over HTTP/JSON by the REST bridge, from the rpc's `(souk.api.v1.http)` option.
public struct HTTPRoute: Sendable {
    public enum Verb: String, Sendable {
        case get = "GET", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE"
    }

    public let verb: Verb
    /// The path template, e.g. `/v1/orders/{order_id}:cancel`.
    public let pathTemplate: String
    /// `*` (every field not bound by the path), one field's name, or empty (no body).
    public let body: String
    public let method: MethodDescriptor
    public let requestType: any ProtoMessage.Type
    public let responseType: any ProtoMessage.Type
    private let invoke: @Sendable (JSONValue, any ClientTransport, CallOptions) async throws -> [UInt8]

    public init<Request: ProtoMessage, Response: ProtoMessage>(
        verb: Verb, pathTemplate: String, body: String, method: MethodDescriptor,
        request: Request.Type, response: Response.Type
    ) {
        self.verb = verb
        self.pathTemplate = pathTemplate
        self.body = body
        self.method = method
        self.requestType = request
        self.responseType = response
        self.invoke = { json, transport, options in
            let request: Request
            do {
                request = try Request(json: json, at: .root)
            } catch let error as ProtoJSONError {
                throw RPCError(.invalidArgument, error.message)
            }
            let response = try await transport.unary(request, method: method, options: options, responseType: Response.self)
            return response.jsonBytes()
        }
    }

    /// The field names bound by `{variable}` segments of the path, in order.
    public var pathVariables: [String] {
        var names: [String] = []
        var rest = pathTemplate[...]
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// Decodes `request` (the JSON object assembled from path, query and body) and makes the call;
    /// returns the response's JSON. Bad JSON is INVALID_ARGUMENT naming the field.
    public func call(request: JSONValue, transport: any ClientTransport, options: CallOptions) async throws -> [UInt8] {
        try await invoke(request, transport, options)
    }
}
