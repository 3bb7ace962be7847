import SoukContracts
import SoukProtobuf
import SoukRPCCore
import TestContracts
import Testing

@Suite("HTTP routes of the REST bridge")
struct HTTPRouteTests {
    /// "VERB path body → method" for a route.
    static func summary(_ route: HTTPRoute) -> String {
        "\(route.verb.rawValue) \(route.pathTemplate) body=\(route.body) → \(route.method.fullName)"
    }

    static func route(for method: MethodDescriptor) -> HTTPRoute? {
        TestRoutes.all.first { $0.method == method }
    }

    @Test("TestRoutes has one route per rpc with an HTTP annotation, as the test .proto files declare it")
    func testRoutesMatchProto() {
        #expect(TestRoutes.all.map(Self.summary).sorted() == [
            "DELETE /v1/echo/{id} body= → /souk.test.v1.EchoService/DeleteEcho",
            "GET /v1/echo/{id}/items/{item_number} body= → /souk.test.v1.EchoService/GetEcho",
            "GET /v1/things/{id} body= → /souk.test.other.v1.ThingService/GetThing",
            "PATCH /v1/echo/{id} body=payload → /souk.test.v1.EchoService/UpdateEcho",
            "POST /v1/echo/{id} body=* → /souk.test.v1.EchoService/Echo",
            "PUT /v1/echo/{id} body=* → /souk.test.v1.EchoService/ReplaceEcho",
        ])
    }

    @Test("SoukRoutes has one route per public rpc with an HTTP annotation, as Protos/ declares it")
    func soukRoutesMatchProto() {
        #expect(SoukRoutes.all.map(Self.summary).sorted() == [
            "GET /v1/orders body= → /souk.orders.v1.OrdersService/ListOrders",
            "GET /v1/orders/{order_id} body= → /souk.orders.v1.OrdersService/GetOrder",
            "GET /v1/payments/{payment_id} body= → /souk.payments.v1.PaymentsService/GetPayment",
            "GET /v1/users/me body= → /souk.users.v1.UsersService/GetCurrentUser",
            "PATCH /v1/users/me body=profile → /souk.users.v1.UsersService/UpdateProfile",
            "POST /v1/auth/tokens body=* → /souk.users.v1.UsersService/Authenticate",
            "POST /v1/orders body=* → /souk.orders.v1.OrdersService/CreateOrder",
            "POST /v1/orders/{order_id}:cancel body=* → /souk.orders.v1.OrdersService/CancelOrder",
            "POST /v1/payments body=* → /souk.payments.v1.PaymentsService/CreatePayment",
            "POST /v1/payments/{payment_id}:refund body=* → /souk.payments.v1.PaymentsService/RefundPayment",
            "POST /v1/users body=* → /souk.users.v1.UsersService/CreateUser",
        ])
    }

    @Test("no route exposes an internal rpc, nor an rpc without an HTTP annotation")
    func noInternalRoutes() {
        let routed = (TestRoutes.all + SoukRoutes.all).map(\.method)
        #expect(!routed.contains { $0.isInternal })
        for unannotated in [EchoService.Methods.internalEcho, EchoService.Methods.lookupThing,
                            Souk_Test_Other_V1_ThingService.Methods.touchThing, UsersService.Methods.getUser,
                            OrdersService.Methods.markOrderPaid, OrdersService.Methods.markOrderRefunded] {
            #expect(!routed.contains(unannotated), "\(unannotated) has a route")
        }
    }

    @Test("no two routes share a verb and a path")
    func routesAreUnique() {
        for routes in [TestRoutes.all, SoukRoutes.all] {
            let keys = routes.map { "\($0.verb.rawValue) \($0.pathTemplate)" }
            #expect(Set(keys).count == keys.count)
        }
    }

    @Test("each route's request and response types are its rpc's input and output")
    func routeTypes() {
        for route in TestRoutes.all + SoukRoutes.all {
            #expect(route.requestType.protoMessageName == route.method.inputType)
            #expect(route.responseType.protoMessageName == route.method.outputType)
        }
    }

    @Test("pathVariables lists the {variables} of the path template in order",
          arguments: [
              ("/v1/echo/{id}/items/{item_number}", ["id", "item_number"]),
              ("/v1/orders/{order_id}:cancel", ["order_id"]),
              ("/v1/orders/{order_id}/payments", ["order_id"]),
              ("/v1/users/me", []),
              ("/", []),
          ])
    func pathVariables(template: String, expected: [String]) {
        let route = HTTPRoute(verb: .get, pathTemplate: template, body: "", method: EchoService.Methods.getEcho,
                              request: GetEchoRequest.self, response: EchoResponse.self)
        #expect(route.pathVariables == expected)
    }

    @Test("every path variable of a generated route names a field of its request")
    func pathVariablesAreFields() throws {
        #expect(try #require(Self.route(for: EchoService.Methods.getEcho)).pathVariables == ["id", "item_number"])
        for route in TestRoutes.all + SoukRoutes.all {
            for variable in route.pathVariables {
                // A request naming the variable with a value of the right kind decodes; an unknown name would not.
                let value: JSONValue = variable == "item_number" ? .string("1") : .string("x")
                let json = JSONValue.object(JSONObject(members: [(variable, value)]))
                #expect(throws: Never.self, "\(route.pathTemplate): \(variable)") {
                    _ = try route.requestType.init(json: json, at: .root)
                }
            }
        }
    }

    // MARK: Calling a route

    let observed = Observed()
    var transport: InProcessTransport { InProcessTransport(services: [EchoHandler(observed: observed)]) }

    func call(_ method: MethodDescriptor, _ json: String, options: CallOptions = .defaults) async throws -> JSONValue {
        let route = try #require(Self.route(for: method))
        let bytes = try await route.call(request: try JSONParser.parse(json), transport: transport, options: options)
        return try JSONParser.parse(bytes)
    }

    @Test("calling POST /v1/echo/{id} with a JSON request returns the response's JSON, zero values included")
    func callEcho() async throws {
        let response = try await call(EchoService.Methods.echo, #"""
            {"id": "42", "message": "héllo", "everything": {"scalars": {"int64Value": "-9007199254740993", "boolValue": true}}}
            """#)
        #expect(response.keys == ["id", "message", "everything", "itemNumber"])
        #expect(response["itemNumber"] == .string("0"))
        #expect(response["id"] == .string("42"))
        #expect(response["message"] == .string("héllo"))
        #expect(response["everything"]?["scalars"]?["int64Value"] == .string("-9007199254740993"))
        #expect(response["everything"]?["scalars"]?["boolValue"] == .bool(true))

        var expected = EchoRequest()
        expected.id = "42"
        expected.message = "héllo"
        var scalars = ScalarValues()
        scalars.int64Value = -9_007_199_254_740_993
        scalars.boolValue = true
        expected.everything = Everything()
        expected.everything?.scalars = scalars
        #expect(observed.onlyRequest(as: EchoRequest.self) == expected)
    }

    @Test("calling GET /v1/echo/{id}/items/{item_number} accepts proto field names, query values and enum names")
    func callGetEcho() async throws {
        let response = try await call(EchoService.Methods.getEcho, #"""
            {"id": "a", "item_number": "7", "verbose": true, "tags": ["x", "y"], "mode": "SIGNED_ENUM_NEGATIVE"}
            """#)
        #expect(response["id"] == .string("a"))
        #expect(response["itemNumber"] == .string("7"))
        let request = try #require(observed.onlyRequest(as: GetEchoRequest.self))
        #expect(request.itemNumber == 7)
        #expect(request.verbose)
        #expect(request.tags == ["x", "y"])
        #expect(request.mode == .negative)
    }

    @Test("calling DELETE answers with an empty JSON object")
    func callDelete() async throws {
        #expect(try await call(EchoService.Methods.deleteEcho, #"{"id": "gone"}"#) == .object(JSONObject(members: [])))
    }

    @Test("a route call carries the call options: metadata reaches the handler")
    func routeCarriesOptions() async throws {
        _ = try await call(EchoService.Methods.echo, "{}", options: CallOptions(metadata: Metadata(["x-request-id": "r-9"])))
        #expect(observed.onlyContext?.metadata["x-request-id"] == "r-9")
    }

    @Test("a JSON request with an unknown field is INVALID_ARGUMENT naming the field, and never reaches the handler")
    func unknownField() async throws {
        let error = try await #require(throws: RPCError.self) {
            try await call(EchoService.Methods.echo, #"{"id": "42", "colour": "red"}"#)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("colour"))
        #expect(observed.calls.isEmpty)
    }

    @Test("an unknown field in a nested object is INVALID_ARGUMENT naming its path")
    func unknownNestedField() async throws {
        let error = try await #require(throws: RPCError.self) {
            try await call(EchoService.Methods.updateEcho, #"{"id": "1", "payload": {"message": "m", "shade": 3}}"#)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("shade"))
        #expect(error.message.contains("payload"))
    }

    @Test("a JSON value of the wrong type is INVALID_ARGUMENT naming the field")
    func wrongType() async throws {
        let error = try await #require(throws: RPCError.self) {
            try await call(EchoService.Methods.getEcho, #"{"id": "a", "itemNumber": "seven"}"#)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("itemNumber") || error.message.contains("item_number"))
    }

    @Test("a JSON request that is not an object is INVALID_ARGUMENT")
    func notAnObject() async throws {
        let error = try await #require(throws: RPCError.self) { try await call(EchoService.Methods.echo, "[1, 2]") }
        #expect(error.code == .invalidArgument)
    }

    @Test("a JSON string holding U+0000 is INVALID_ARGUMENT naming the field")
    func nulInJSONString() async throws {
        let error = try await #require(throws: RPCError.self) {
            try await call(EchoService.Methods.echo, #"{"id": "a\u0000b"}"#)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("field id"))
        #expect(error.message.contains("U+0000"))
        #expect(observed.calls.isEmpty)
    }

    @Test("an RPCError from the handler comes out of the route unchanged")
    func handlerErrorThroughRoute() async throws {
        let route = try #require(Self.route(for: EchoService.Methods.replaceEcho))
        let transport = InProcessTransport(services: [EchoHandler { _ in throw RPCError(.notFound, "no echo 42") }])
        let error = try await #require(throws: RPCError.self) {
            try await route.call(request: .object(JSONObject(members: [])), transport: transport, options: .defaults)
        }
        #expect(error == RPCError(.notFound, "no echo 42"))
    }

    // MARK: Assembling the request from path, query and body

    func assembled(_ method: MethodDescriptor, path: [String: String] = [:], query: [(name: String, value: String)] = [],
                   body: String?) throws -> JSONValue {
        let route = try #require(Self.route(for: method))
        return try route.requestJSON(pathParameters: path, query: query, body: body.map { try JSONParser.parse($0) })
    }

    @Test("a PATCH whose body is one field gets its update mask from the body's members, as proto names")
    func patchBuildsFieldMask() throws {
        #expect(try #require(Self.route(for: EchoService.Methods.updateEcho)).updateMaskField == "update_mask")
        let json = try assembled(EchoService.Methods.updateEcho, path: ["id": "7"], body: #"{"itemNumber": "3", "message": "m"}"#)
        let request = try UpdateEchoRequest(json: json, at: .root)
        #expect(request.id == "7")
        #expect(request.payload?.itemNumber == 3)
        #expect(request.updateMask?.paths == ["item_number", "message"])
        let onlyMessage = try UpdateEchoRequest(json: assembled(EchoService.Methods.updateEcho, path: ["id": "7"],
                                                                body: #"{"message": ""}"#), at: .root)
        #expect(onlyMessage.updateMask?.paths == ["message"])
        #expect(onlyMessage.payload?.message == "")
        // An empty body names no field: an empty mask, which the handler may refuse.
        let nothing = try UpdateEchoRequest(json: assembled(EchoService.Methods.updateEcho, path: ["id": "7"], body: "{}"), at: .root)
        #expect(nothing.updateMask?.paths == [])
    }

    @Test("an update mask in the query wins over the one made from the body")
    func queryFieldMask() throws {
        let json = try assembled(EchoService.Methods.updateEcho, path: ["id": "7"], query: [("updateMask", "message")],
                                 body: #"{"itemNumber": "3", "message": "m"}"#)
        #expect(try UpdateEchoRequest(json: json, at: .root).updateMask?.paths == ["message"])
    }

    @Test("a path variable wins over the same field in a * body; query parameters fill the rest, repeated names make a list")
    func pathQueryAndBody() throws {
        let echo = try EchoRequest(json: assembled(EchoService.Methods.echo, path: ["id": "from-path"],
                                                   body: #"{"id": "from-body", "message": "m"}"#), at: .root)
        #expect(echo.id == "from-path")
        #expect(echo.message == "m")
        let get = try GetEchoRequest(json: assembled(EchoService.Methods.getEcho, path: ["id": "a", "item_number": "9"],
                                                     query: [("tags", "x"), ("tags", "y"), ("mode", "SIGNED_ENUM_NEGATIVE"), ("item_number", "1")],
                                                     body: nil), at: .root)
        #expect(get.itemNumber == 9)
        #expect(get.tags == ["x", "y"])
        #expect(get.mode == .negative)
    }

    @Test("a body that is not a JSON object is INVALID_ARGUMENT", arguments: ["[1]", "\"text\"", "3"])
    func bodyNotAnObject(body: String) throws {
        for method in [EchoService.Methods.echo, EchoService.Methods.updateEcho] {
            let error = try #require(throws: RPCError.self) { try assembled(method, path: ["id": "1"], body: body) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("must be a JSON object"))
        }
    }
}
