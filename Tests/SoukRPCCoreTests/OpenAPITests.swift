import SoukContracts
import SoukProtobuf
import SoukRPCCore
import TestContracts
import Testing

/// A generated OpenAPI document with the routes it describes.
struct APIDocument: Sendable, CustomTestStringConvertible {
    let name: String
    let text: String
    let routes: [HTTPRoute]

    var testDescription: String { name }

    static let all = [
        APIDocument(name: "TestRoutes", text: TestRoutes.openAPIDocument, routes: TestRoutes.all),
        APIDocument(name: "SoukRoutes", text: SoukRoutes.openAPIDocument, routes: SoukRoutes.all),
    ]

    func parsed() throws -> JSONValue { try JSONParser.parse(text) }

    /// The operation of `route`: `paths[template][verb]`.
    func operation(of route: HTTPRoute, in document: JSONValue) -> JSONValue? {
        document["paths"]?[route.pathTemplate]?[route.verb.rawValue.lowercased()]
    }
}

@Suite("The generated OpenAPI documents")
struct OpenAPITests {
    static let verbs: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    @Test("the document is JSON declaring OpenAPI 3.0.3", arguments: APIDocument.all)
    func parsesAsOpenAPI(_ api: APIDocument) throws {
        let document = try api.parsed()
        #expect(document["openapi"] == .string("3.0.3"))
        #expect(document["info"]?["title"]?.string?.isEmpty == false)
        #expect(document["info"]?["version"]?.string?.isEmpty == false)
    }

    @Test("the document has one operation per route, under the route's path and verb", arguments: APIDocument.all)
    func oneOperationPerRoute(_ api: APIDocument) throws {
        let document = try api.parsed()
        let paths = try #require(document["paths"])
        var operations: [String] = []
        for (path, item) in paths.members {
            for verb in item.keys where Self.verbs.contains(verb) {
                operations.append("\(verb.uppercased()) \(path)")
            }
        }
        #expect(operations.sorted() == api.routes.map { "\($0.verb.rawValue) \($0.pathTemplate)" }.sorted())
    }

    @Test("each operation is named Service_Method after its rpc", arguments: APIDocument.all)
    func operationIds(_ api: APIDocument) throws {
        let document = try api.parsed()
        for route in api.routes {
            let service = route.method.service.split(separator: ".").last.map(String.init) ?? ""
            #expect(api.operation(of: route, in: document)?["operationId"] == .string("\(service)_\(route.method.method)"))
        }
    }

    @Test("path parameters are exactly the path's variables, each required", arguments: APIDocument.all)
    func pathParameters(_ api: APIDocument) throws {
        let document = try api.parsed()
        for route in api.routes {
            let operation = try #require(api.operation(of: route, in: document), "\(route.pathTemplate)")
            let inPath = (operation["parameters"]?.elements ?? []).filter { $0["in"] == .string("path") }
            #expect(inPath.compactMap { $0["name"]?.string } == route.pathVariables, "\(route.pathTemplate)")
            for parameter in inPath {
                #expect(parameter["required"] == .bool(true), "\(route.pathTemplate) \(parameter["name"]?.string ?? "?")")
            }
        }
    }

    @Test("an operation has a request body exactly when its route has one", arguments: APIDocument.all)
    func requestBodies(_ api: APIDocument) throws {
        let document = try api.parsed()
        for route in api.routes {
            let operation = try #require(api.operation(of: route, in: document))
            let schema = operation["requestBody"]?["content"]?["application/json"]?["schema"]?["$ref"]
            switch route.body {
            case "":
                #expect(operation["requestBody"] == nil, "\(route.method)")
            case "*":
                #expect(schema == .string("#/components/schemas/\(route.method.inputType)"), "\(route.method)")
            default:
                #expect(schema != nil, "\(route.method)")
            }
        }
    }

    @Test("each operation answers its success status (201 for a creating rpc, else 200) with its rpc's output, and errors with Status",
          arguments: APIDocument.all)
    func responses(_ api: APIDocument) throws {
        let document = try api.parsed()
        for route in api.routes {
            let responses = try #require(api.operation(of: route, in: document)?["responses"])
            let other = route.successStatus == 201 ? "200" : "201"
            #expect(responses["\(route.successStatus)"]?["content"]?["application/json"]?["schema"]?["$ref"]
                == .string("#/components/schemas/\(route.method.outputType)"), "\(route.method)")
            #expect(responses[other] == nil, "\(route.method)")
            #expect(responses["default"]?["content"]?["application/json"]?["schema"]?["$ref"]
                == .string("#/components/schemas/Status"), "\(route.method)")
        }
    }

    @Test("the creating POSTs, and only they, answer 201")
    func created() {
        let creating = SoukRoutes.all.filter { $0.successStatus == 201 }.map { "\($0.verb.rawValue) \($0.pathTemplate)" }
        #expect(creating == ["POST /v1/orders", "POST /v1/payments", "POST /v1/users"])
        #expect(SoukRoutes.all.allSatisfy { [200, 201].contains($0.successStatus) })
    }

    @Test("an operation is marked idempotent exactly when its rpc is", arguments: APIDocument.all)
    func idempotentMark(_ api: APIDocument) throws {
        let document = try api.parsed()
        for route in api.routes {
            let operation = try #require(api.operation(of: route, in: document))
            #expect((operation["x-souk-idempotent"] == .bool(true)) == route.method.isIdempotent, "\(route.method)")
        }
    }

    @Test("every $ref resolves to a schema in components.schemas", arguments: APIDocument.all)
    func refsResolve(_ api: APIDocument) throws {
        let document = try api.parsed()
        let schemas = Set(try #require(document["components"]?["schemas"]).keys)
        let refs = document.refs
        #expect(!refs.isEmpty)
        let prefix = "#/components/schemas/"
        for ref in Set(refs) {
            #expect(ref.hasPrefix(prefix) && schemas.contains(String(ref.dropFirst(prefix.count))), "\(ref)")
        }
    }

    @Test("internal rpcs appear nowhere among the operations", arguments: APIDocument.all)
    func internalRPCsAbsent(_ api: APIDocument) throws {
        let document = try api.parsed()
        let operationIds = document["paths"]?.members.flatMap { path in
            path.value.members.compactMap { $0.value["operationId"]?.string }
        } ?? []
        #expect(operationIds.count == api.routes.count)
        for hidden in ["EchoService_InternalEcho", "EchoService_LookupThing", "ThingService_TouchThing",
                       "UsersService_GetUser", "OrdersService_MarkOrderPaid", "OrdersService_MarkOrderRefunded",
                       "HealthService_Check"] {
            #expect(!operationIds.contains(hidden), "\(hidden)")
        }
        for name in ["MarkOrderPaidRequest", "MarkOrderRefundedRequest", "GetUserRequest", "GetUserResponse"] {
            #expect(!api.text.contains(name), "\(name) is in the document")
        }
    }

    @Test("well-known types are described by their JSON forms: a Timestamp is a date-time string, a wrapper its nullable value")
    func wellKnownSchemas() throws {
        let schemas = try APIDocument.all[0].parsed()["components"]?["schemas"]
        #expect(schemas?["google.protobuf.Timestamp"]?["type"] == .string("string"))
        #expect(schemas?["google.protobuf.Timestamp"]?["format"] == .string("date-time"))
        #expect(schemas?["google.protobuf.Duration"]?["example"] == .string("1.5s"))
        #expect(schemas?["google.protobuf.FieldMask"]?["type"] == .string("string"))
        #expect(schemas?["google.protobuf.Int64Value"]?["type"] == .string("string"))
        #expect(schemas?["google.protobuf.Int64Value"]?["format"] == .string("int64"))
        #expect(schemas?["google.protobuf.Int64Value"]?["nullable"] == .bool(true))
        #expect(schemas?["google.protobuf.BoolValue"]?["type"] == .string("boolean"))
        #expect(schemas?["google.protobuf.Empty"]?["type"] == .string("object"))
        let user = try APIDocument.all[1].parsed()["components"]?["schemas"]?["souk.users.v1.User"]
        #expect(user?["properties"]?["createdAt"]?["$ref"] == .string("#/components/schemas/google.protobuf.Timestamp"))
    }
}
