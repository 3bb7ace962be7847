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
    /// The request's `google.protobuf.FieldMask` field that a PATCH with a field body fills from
    /// the body's members, as grpc-gateway does; nil for other routes.
    public let updateMaskField: String?
    /// The HTTP status of a success: 201 for an rpc that creates a resource, else 200.
    public let successStatus: Int
    public let method: MethodDescriptor
    public let requestType: any ProtoMessage.Type
    public let responseType: any ProtoMessage.Type
    private let invoke: @Sendable (JSONValue, any ClientTransport, CallOptions, JSONEncodingOptions) async throws -> [UInt8]

    public init<Request: ProtoMessage, Response: ProtoMessage>(
        verb: Verb, pathTemplate: String, body: String, updateMaskField: String? = nil, successStatus: Int = 200,
        method: MethodDescriptor, request: Request.Type, response: Response.Type
    ) {
        self.verb = verb
        self.pathTemplate = pathTemplate
        self.pathVariables = Self.variables(of: pathTemplate)
        self.body = body
        self.updateMaskField = updateMaskField
        self.successStatus = successStatus
        self.method = method
        self.requestType = request
        self.responseType = response
        self.invoke = { json, transport, options, jsonOptions in
            let request = try Request(json: json, at: .root)
            let response = try await transport.unary(request, method: method, options: options, responseType: Response.self)
            do {
                return try response.jsonBytes(options: jsonOptions)
            } catch let error as ProtoJSONError {
                throw RPCError(.internal, "the answer of \(method.fullName) has no JSON form: \(error.message)")
            }
        }
    }

    /// The field names bound by `{variable}` segments of the path, in order.
    public let pathVariables: [String]

    private static func variables(of pathTemplate: String) -> [String] {
        var names: [String] = []
        var rest = pathTemplate[...]
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// The request message's JSON, assembled as grpc-gateway assembles it:
    /// - `body` `*`: the body object is the request; `""`: there is no body; a field name: the body
    ///   is that field, and on a PATCH the update mask (``updateMaskField``) lists the body's
    ///   members (as proto field names), unless the query sets it;
    /// - each path variable sets its field (a path value wins over the body's);
    /// - query parameters set the fields the path and the body leave, by proto or JSON name,
    ///   a repeated name making a list; names that are no field are left out by the decoder's
    ///   choice (unknown fields are INVALID_ARGUMENT), so they are passed through as given.
    /// Throws INVALID_ARGUMENT when the body is not a JSON object (or is missing where needed).
    public func requestJSON(pathParameters: [String: String], query: [(name: String, value: String)] = [],
                            body: JSONValue?) throws(RPCError) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        var bound = Set<String>()
        func set(_ name: String, _ value: JSONValue) {
            let keys = [name, FieldNames.jsonName(name)]
            members.removeAll { keys.contains($0.key) || keys.contains(FieldNames.protoName($0.key)) }
            members.append((name, value))
            bound.insert(FieldNames.protoName(name))
        }
        switch self.body {
        case "":
            break
        case "*":
            guard let body, body != .null else { break }
            guard case .object(let object) = body else {
                throw RPCError(.invalidArgument, "the request body must be a JSON object")
            }
            for member in object.members { set(member.key, member.value) }
        default:
            let value = body ?? .object(JSONObject(members: []))
            guard case .object(let object) = value else {
                throw RPCError(.invalidArgument, "the request body must be a JSON object (the \(FieldNames.jsonName(self.body)) of the request)")
            }
            set(self.body, value)
            if verb == .patch, let mask = updateMaskField,
               !query.contains(where: { FieldNames.protoName($0.name) == mask }) {
                let paths = object.members.map { FieldNames.jsonName($0.key) }
                set(mask, .string(paths.joined(separator: ",")))
            }
        }
        for variable in pathVariables {
            if let value = pathParameters[variable] { set(variable, .string(value)) }
        }
        var fromQuery: [(name: String, values: [String])] = []
        for parameter in query where !bound.contains(FieldNames.protoName(parameter.name)) {
            if let index = fromQuery.firstIndex(where: { $0.name == parameter.name }) {
                fromQuery[index].values.append(parameter.value)
            } else {
                fromQuery.append((parameter.name, [parameter.value]))
            }
        }
        for parameter in fromQuery {
            let value: JSONValue = parameter.values.count == 1
                ? .string(parameter.values[0]) : .array(parameter.values.map(JSONValue.string))
            members.append((parameter.name, value))
        }
        return .object(JSONObject(members: members))
    }

    /// Decodes `request` (the JSON object assembled from path, query and body) and makes the call;
    /// returns the response's JSON, every field written by default (REST answers carry zero values
    /// too). Bad JSON is INVALID_ARGUMENT naming the field.
    public func call(request: JSONValue, transport: any ClientTransport, options: CallOptions,
                     jsonOptions: JSONEncodingOptions = JSONEncodingOptions(emitUnpopulated: true)) async throws -> [UInt8] {
        do {
            return try await invoke(request, transport, options, jsonOptions)
        } catch let error as ProtoJSONError {
            throw RPCError(.invalidArgument, error.message)
        }
    }

    /// ``call(request:transport:options:jsonOptions:)``, but a request that does not decode
    /// throws its ``ProtoJSONError`` as it is, with the path of the field at fault, for a
    /// caller (the REST bridge) that reports that field on its own terms.
    public func send(request: JSONValue, transport: any ClientTransport, options: CallOptions,
                     jsonOptions: JSONEncodingOptions = JSONEncodingOptions(emitUnpopulated: true)) async throws -> [UInt8] {
        try await invoke(request, transport, options, jsonOptions)
    }
}
