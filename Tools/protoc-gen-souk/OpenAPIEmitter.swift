/// A JSON tree with members kept in insertion order, so the document is byte-for-byte stable.
indirect enum JSONTree {
    case object([(String, JSONTree)])
    case array([JSONTree])
    case string(String)
    case integer(Int)
    case bool(Bool)

    func rendered(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .object(let members):
            if members.isEmpty { return "{}" }
            let body = members.map { "\(inner)\(JSONTree.quote($0.0)): \($0.1.rendered(indent: inner))" }
            return "{\n" + body.joined(separator: ",\n") + "\n\(indent)}"
        case .array(let elements):
            if elements.isEmpty { return "[]" }
            return "[\n" + elements.map { inner + $0.rendered(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .string(let text): return JSONTree.quote(text)
        case .integer(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        }
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// Writes an OpenAPI 3 document of the annotated rpcs, with schemas derived from the messages and their comments.
struct OpenAPIEmitter {
    let registry: TypeRegistry
    let title: String

    func document(files: [FileModel]) -> String {
        let routes = RoutesEmitter.routes(in: files)
        var schemaNames: [String] = []
        var seen = Set<String>()
        func reach(_ fullName: String) {
            guard seen.insert(fullName).inserted else { return }
            schemaNames.append(fullName)
            guard let message = registry[fullName].message else { return }
            for field in message.fields where field.type == .message || field.type == .enumeration {
                if let entry = registry[field.typeName].message, entry.isMapEntry {
                    let value = entry.fields[1]
                    if value.type == .message || value.type == .enumeration { reach(value.typeName) }
                } else {
                    reach(field.typeName)
                }
            }
        }
        for route in routes {
            reach(route.method.inputType)
            reach(route.method.outputType)
        }

        var paths: [(String, [(String, JSONTree)])] = []
        for route in routes {
            let operation = self.operation(route)
            if let index = paths.firstIndex(where: { $0.0 == route.http.path }) {
                paths[index].1.append((route.http.verb, operation))
            } else {
                paths.append((route.http.path, [(route.http.verb, operation)]))
            }
        }

        var schemas: [(String, JSONTree)] = schemaNames.sorted().map { (String($0.dropFirst()), schema(for: $0)) }
        schemas.append(("Status", .object([
            ("type", .string("object")),
            ("description", .string("The body of every error answer: the gRPC status of the call.")),
            ("properties", .object([
                ("code", .object([("type", .string("integer")), ("format", .string("int32")),
                                  ("description", .string("The gRPC canonical status code (0–16)."))])),
                ("status", .object([("type", .string("string")),
                                    ("description", .string("The code's canonical name, e.g. NOT_FOUND."))])),
                ("message", .object([("type", .string("string")),
                                     ("description", .string("What went wrong, for a person to act on."))])),
                ("details", .object([("type", .string("array")), ("items", .object([("type", .string("object"))])),
                                     ("description", .string("Structured detail, e.g. the violations of each invalid field."))])),
            ])),
            ("required", .array([.string("code"), .string("message")])),
        ])))

        let tree = JSONTree.object([
            ("openapi", .string("3.0.3")),
            ("info", .object([("title", .string(title)), ("version", .string("v1"))])),
            ("paths", .object(paths.map { ($0.0, .object($0.1)) })),
            ("components", .object([
                ("schemas", .object(schemas)),
                ("securitySchemes", .object([
                    ("bearer", .object([("type", .string("http")), ("scheme", .string("bearer")),
                                        ("bearerFormat", .string("JWT"))])),
                ])),
            ])),
        ])
        return tree.rendered()
    }

    private func reference(_ fullName: String) -> JSONTree {
        .object([("$ref", .string("#/components/schemas/\(fullName.dropFirst())"))])
    }

    private func operation(_ route: RoutesEmitter.Route) -> JSONTree {
        let input = registry[route.method.inputType].message
        let pathVariables = Self.pathVariables(route.http.path)
        var parameters: [JSONTree] = []
        for name in pathVariables {
            let field = input?.fields.first { $0.name == name }
            parameters.append(.object([
                ("name", .string(name)), ("in", .string("path")), ("required", .bool(true)),
                ("description", .string(field?.comment ?? "")),
                ("schema", field.map(fieldSchema) ?? .object([("type", .string("string"))])),
            ]))
        }
        if route.http.body != "*", let input {
            for field in input.fields where !pathVariables.contains(field.name) && field.name != route.http.body
                && field.type != .message {
                parameters.append(.object([
                    ("name", .string(field.jsonName)), ("in", .string("query")), ("required", .bool(false)),
                    ("description", .string(field.comment)), ("schema", fieldSchema(field)),
                ]))
            }
        }
        var members: [(String, JSONTree)] = [
            ("operationId", .string("\(route.service.name)_\(route.method.name)")),
            ("tags", .array([.string(route.service.name)])),
            ("summary", .string(String(route.method.comment.split(separator: "\n").first ?? ""))),
            ("description", .string(route.method.comment)),
        ]
        if !parameters.isEmpty { members.append(("parameters", .array(parameters))) }
        if !route.http.body.isEmpty {
            var bodySchema = reference(route.method.inputType)
            if route.http.body != "*", let field = input?.fields.first(where: { $0.name == route.http.body }) {
                bodySchema = fieldSchema(field)
            }
            members.append(("requestBody", .object([
                ("required", .bool(true)),
                ("content", .object([("application/json", .object([("schema", bodySchema)]))])),
            ])))
        }
        members.append(("responses", .object([
            (route.http.created ? "201" : "200", .object([
                ("description", .string("The \(route.method.outputType.split(separator: ".").last ?? "")\(route.http.created ? ", created" : "")")),
                ("content", .object([("application/json", .object([("schema", reference(route.method.outputType))]))])),
            ])),
            ("default", .object([
                ("description", .string("An error, with the gRPC status mapped to an HTTP status as grpc-gateway does.")),
                ("content", .object([("application/json", .object([("schema", .object([("$ref", .string("#/components/schemas/Status"))]))]))])),
            ])),
        ])))
        members.append(("security", .array([.object([("bearer", .array([]))])])))
        if route.method.isIdempotent { members.append(("x-souk-idempotent", .bool(true))) }
        return .object(members)
    }

    static func pathVariables(_ template: String) -> [String] {
        var names: [String] = []
        var rest = template[...]
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    private func scalarSchema(_ field: FieldModel) -> JSONTree {
        switch field.type {
        case .double: .object([("type", .string("number")), ("format", .string("double"))])
        case .float: .object([("type", .string("number")), ("format", .string("float"))])
        case .int64, .sint64, .sfixed64: .object([("type", .string("string")), ("format", .string("int64"))])
        case .uint64, .fixed64: .object([("type", .string("string")), ("format", .string("uint64"))])
        case .int32, .sint32, .sfixed32: .object([("type", .string("integer")), ("format", .string("int32"))])
        case .uint32, .fixed32: .object([("type", .string("integer")), ("format", .string("int64")), ("minimum", .integer(0))])
        case .bool: .object([("type", .string("boolean"))])
        case .string: .object([("type", .string("string"))])
        case .bytes: .object([("type", .string("string")), ("format", .string("byte"))])
        case .enumeration, .message, .group: reference(field.typeName)
        }
    }

    private func fieldSchema(_ field: FieldModel) -> JSONTree {
        if field.type == .message, let entry = registry[field.typeName].message, entry.isMapEntry {
            return .object([("type", .string("object")), ("additionalProperties", scalarSchema(entry.fields[1]))])
        }
        if field.isRepeated { return .object([("type", .string("array")), ("items", scalarSchema(field))]) }
        return scalarSchema(field)
    }

    /// The schemas of the well-known types: their JSON forms, not their fields.
    private func wellKnownSchema(_ fullName: String) -> JSONTree? {
        func string(_ members: [(String, JSONTree)]) -> JSONTree { .object([("type", .string("string"))] + members) }
        switch fullName {
        case ".google.protobuf.Timestamp":
            return string([("format", .string("date-time")),
                           ("description", .string("An instant in RFC 3339 form: UTC with Z and 0, 3, 6 or 9 fractional digits on output; any offset on input; years 0001 to 9999.")),
                           ("example", .string("2026-12-01T09:30:00Z"))])
        case ".google.protobuf.Duration":
            return string([("pattern", .string("^-?[0-9]+(\\.[0-9]{1,9})?s$")),
                           ("description", .string("A signed length of time in seconds, with up to 9 fractional digits and the suffix s.")),
                           ("example", .string("1.5s"))])
        case ".google.protobuf.FieldMask":
            return string([("description", .string("Field paths in lowerCamelCase joined by commas; nested fields joined by dots.")),
                           ("example", .string("fullName"))])
        case ".google.protobuf.Empty":
            return .object([("type", .string("object")), ("properties", .object([])), ("additionalProperties", .bool(false))])
        default:
            guard let scalar = MessageEmitter.wrappers[fullName] else { return nil }
            let model = FieldModel(name: "value", jsonName: "value", number: 1, type: scalar, isRepeated: false,
                                   typeName: "", oneofIndex: nil, isProto3Optional: false, comment: "")
            guard case .object(let members) = scalarSchema(model) else { return nil }
            return .object(members + [("nullable", .bool(true)),
                                      ("description", .string("The value itself, or null (or absent) for none."))])
        }
    }

    private func schema(for fullName: String) -> JSONTree {
        if let wellKnown = wellKnownSchema(fullName) { return wellKnown }
        let entry = registry[fullName]
        if let e = entry.enumModel {
            return .object([
                ("type", .string("string")),
                ("description", .string(e.comment)),
                ("enum", .array(e.values.map { .string($0.name) })),
            ])
        }
        let message = entry.message!
        var properties: [(String, JSONTree)] = []
        for field in message.fields {
            var schema = fieldSchema(field)
            if case .object(var members) = schema, members.first?.0 != "$ref" {
                members.append(("description", .string(field.comment)))
                schema = .object(members)
            }
            properties.append((field.jsonName, schema))
        }
        return .object([
            ("type", .string("object")),
            ("description", .string(message.comment)),
            ("properties", .object(properties)),
            ("additionalProperties", .bool(false)),
        ])
    }
}
