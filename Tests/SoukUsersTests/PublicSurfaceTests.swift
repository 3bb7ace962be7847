import Foundation
import SoukContracts
import SoukProtobuf
import SoukRPCCore
import SoukTestSupport
import Testing

/// The REST surface outside clients are promised (issue "the public surface"): for every row of its
/// table, the request JSON exactly as documented decodes with the generated types, and the answer's
/// JSON has exactly the documented names, each of the documented kind. Users rows run the real users
/// handler on the test database; orders and payments rows check the contracts those services implement.
@Suite("The public REST surface: every route's request and answer JSON, as promised")
struct PublicSurfaceTests {
    /// What a JSON member must be.
    indirect enum Kind: Sendable, CustomStringConvertible {
        case string, uuid, rfc3339, int64String, number, bearer
        case oneOf(Set<String>)
        case object([String: Kind])
        case array(Kind)

        var description: String {
            switch self {
            case .string: "a string"
            case .uuid: "a UUID string"
            case .rfc3339: "an RFC 3339 UTC string"
            case .int64String: "an int64 as a JSON string"
            case .number: "a JSON number"
            case .bearer: "\"Bearer\""
            case .oneOf(let names): "one of \(names.sorted())"
            case .object(let members): "an object with \(members.keys.sorted())"
            case .array(let element): "an array of \(element)"
            }
        }
    }

    static let user: [String: Kind] = ["id": .uuid, "email": .string, "fullName": .string, "createdAt": .rfc3339]
    static let token: [String: Kind] = ["accessToken": .string, "tokenType": .bearer, "expiresIn": .number]
    static let order: [String: Kind] = [
        "id": .uuid, "userId": .uuid, "status": .oneOf(["PENDING", "PAID", "FULFILLED", "CANCELLED", "REFUNDED"]),
        "currency": .string, "items": .array(.object(["sku": .string, "quantity": .number, "unitPrice": .int64String])),
        "total": .int64String, "createdAt": .rfc3339, "updatedAt": .rfc3339,
    ]
    static let orderList: [String: Kind] = ["orders": .array(.object(order)), "nextPageToken": .string]
    static let payment: [String: Kind] = [
        "id": .uuid, "orderId": .uuid, "userId": .uuid, "status": .oneOf(["SUCCEEDED", "DECLINED", "REFUNDED"]),
        "amount": .int64String, "currency": .string, "cardBrand": .string, "cardLast4": .string,
        "declineReason": .string, "createdAt": .rfc3339,
    ]

    /// Checks `json` against `expected`, member by member, naming the path of each mismatch.
    static func check(_ json: JSONValue, is expected: Kind, at path: String = "answer") {
        switch (expected, json) {
        case (.object(let members), .object(let object)):
            #expect(Set(object.members.map(\.key)) == Set(members.keys), "\(path): members")
            for (key, kind) in members {
                guard let value = object[key] else { continue }
                check(value, is: kind, at: "\(path).\(key)")
            }
        case (.array(let element), .array(let elements)):
            for (index, value) in elements.enumerated() { check(value, is: element, at: "\(path)[\(index)]") }
        case (.string, .string):
            break
        case (.uuid, .string(let text)):
            #expect(UUID(uuidString: text) != nil && text == text.lowercased(), "\(path): \(text) is not a lower-case UUID")
        case (.rfc3339, .string(let text)):
            #expect(text.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z/) != nil,
                    "\(path): \(text) is not RFC 3339 in UTC")
        case (.int64String, .string(let text)):
            #expect(Int64(text) != nil, "\(path): \(text) is not an int64")
        case (.number, .number):
            break
        case (.bearer, .string(let text)):
            #expect(text == "Bearer", "\(path)")
        case (.oneOf(let names), .string(let text)):
            #expect(names.contains(text), "\(path): \(text)")
        default:
            Issue.record("\(path): expected \(expected), found \(json)")
        }
    }

    static func route(_ verb: HTTPRoute.Verb, _ path: String) throws -> HTTPRoute {
        try #require(SoukRoutes.all.first { $0.verb == verb && $0.pathTemplate == path }, "no route \(verb.rawValue) \(path)")
    }

    /// The request message a route builds from a documented body, path values and query.
    static func request(_ route: HTTPRoute, path: [String: String] = [:], query: [(name: String, value: String)] = [],
                        body: String?) throws -> any ProtoMessage {
        let json = try route.requestJSON(pathParameters: path, query: query, body: body.map { try JSONParser.parse($0) })
        return try route.requestType.init(json: json, at: .root)
    }

    /// An answer as the REST bridge writes it: every field, zero values included.
    static func answer(_ message: some ProtoMessage) throws -> JSONValue {
        try JSONParser.parse(message.jsonBytes(options: JSONEncodingOptions(emitUnpopulated: true)))
    }

    static func call(_ route: HTTPRoute, _ h: UsersTestHarness, path: [String: String] = [:], body: String?,
                     token: String? = nil) async throws -> JSONValue {
        let json = try route.requestJSON(pathParameters: path, body: body.map { try JSONParser.parse($0) })
        let options = token.map { bearer($0) } ?? .defaults
        return try JSONParser.parse(await route.call(request: json, transport: h.transport, options: options))
    }

    // MARK: Users, through the users handler

    @Test("POST /v1/users, POST /v1/auth/tokens, GET and PATCH /v1/users/me answer exactly the documented JSON")
    func usersRoutes() async throws {
        try await UsersTestHarness.with { h in
            let created = try await Self.call(Self.route(.post, "/v1/users"), h, body: """
                {"email": "  Ada.Lovelace@Example.com ", "password": "correct horse battery", "fullName": "Ada Lovelace"}
                """)
            Self.check(created, is: .object(Self.user))
            #expect(created["email"] == .string("Ada.Lovelace@Example.com"), "kept as typed, trimmed")

            let token = try await Self.call(Self.route(.post, "/v1/auth/tokens"), h, body: """
                {"email": "ada.lovelace@example.com", "password": "correct horse battery"}
                """)
            Self.check(token, is: .object(Self.token))
            #expect(token["expiresIn"] == .number("900"))
            guard case .string(let accessToken)? = token["accessToken"] else { return }

            let me = try await Self.call(Self.route(.get, "/v1/users/me"), h, body: nil, token: accessToken)
            Self.check(me, is: .object(Self.user))
            #expect(me == created)

            let patched = try await Self.call(Self.route(.patch, "/v1/users/me"), h, body: #"{"fullName": "Augusta Ada King"}"#,
                                              token: accessToken)
            Self.check(patched, is: .object(Self.user))
            #expect(patched["fullName"] == .string("Augusta Ada King"))
            #expect(patched["email"] == created["email"] && patched["id"] == created["id"] && patched["createdAt"] == created["createdAt"])

            // Only the fields present change: a body with none changes nothing and says so.
            let empty = try await #require(throws: RPCError.self) {
                try await Self.call(Self.route(.patch, "/v1/users/me"), h, body: "{}", token: accessToken)
            }
            #expect(empty.code == .invalidArgument)
            let unknown = try await #require(throws: RPCError.self) {
                try await Self.call(Self.route(.patch, "/v1/users/me"), h, body: #"{"email": "x@example.com"}"#, token: accessToken)
            }
            #expect(unknown.code == .invalidArgument)
            #expect(unknown.message.contains("email"))
        }
    }

    @Test("a second sign-up differing only in case, or in surrounding spaces, is ALREADY_EXISTS")
    func emailUniqueness() async throws {
        try await UsersTestHarness.with { h in
            _ = try await Self.call(Self.route(.post, "/v1/users"), h, body: """
                {"email": "Grace@Example.com", "password": "correct horse battery", "fullName": "Grace"}
                """)
            for email in ["grace@example.COM", " Grace@Example.com"] {
                let error = try await #require(throws: RPCError.self) {
                    try await Self.call(Self.route(.post, "/v1/users"), h, body: """
                        {"email": "\(email)", "password": "correct horse battery", "fullName": "Grace"}
                        """)
                }
                #expect(error.code == .alreadyExists)
            }
        }
    }

    // MARK: Orders and payments, through their contracts

    @Test("POST /v1/orders takes the documented body; an Order answers with every documented member")
    func createOrder() throws {
        let request = try #require(try Self.request(Self.route(.post, "/v1/orders"), body: """
            {"currency": "EUR", "items": [{"sku": "BOOK-1", "quantity": 2, "unitPrice": "1999"}, {"sku": "PEN", "quantity": 1, "unitPrice": 250}]}
            """) as? CreateOrderRequest)
        #expect(request.currency == "EUR")
        #expect(request.items.map(\.sku) == ["BOOK-1", "PEN"])
        #expect(request.items.map(\.unitPrice) == [1999, 250])
        #expect(request.items.map(\.quantity) == [2, 1])

        var order = Order()
        order.id = UUID().uuidString.lowercased()
        order.userId = UUID().uuidString.lowercased()
        order.status = .pending
        order.currency = request.currency
        order.items = request.items
        order.total = 4248
        order.createdAt = Google_Protobuf_Timestamp(seconds: 1_767_225_600, nanos: 123_456_000)
        order.updatedAt = order.createdAt
        Self.check(try Self.answer(order), is: .object(Self.order))
        // Zero values are members too: a free order's total is "0".
        var free = order
        free.total = 0
        free.items = []
        let freeJSON = try Self.answer(free)
        Self.check(freeJSON, is: .object(Self.order))
        #expect(freeJSON["total"] == .string("0") && freeJSON["items"] == .array([]))
    }

    @Test("GET /v1/orders takes pageSize and pageToken from the query; the answer lists Orders and nextPageToken")
    func listOrders() throws {
        let request = try #require(try Self.request(Self.route(.get, "/v1/orders"),
                                                    query: [("pageSize", "50"), ("pageToken", "opaque")], body: nil) as? ListOrdersRequest)
        #expect(request.pageSize == 50 && request.pageToken == "opaque")
        var order = Order()
        order.id = UUID().uuidString.lowercased()
        order.userId = UUID().uuidString.lowercased()
        order.status = .cancelled
        order.createdAt = Google_Protobuf_Timestamp(seconds: 0)
        order.updatedAt = order.createdAt
        var page = ListOrdersResponse()
        page.orders = [order]
        Self.check(try Self.answer(page), is: .object(Self.orderList))
        #expect(try Self.answer(ListOrdersResponse()) == .object(JSONObject(members: [("orders", .array([])), ("nextPageToken", .string(""))])))
    }

    @Test("GET /v1/orders/{orderId} and POST /v1/orders/{orderId}:cancel take the id from the path")
    func orderByID() throws {
        let id = UUID().uuidString.lowercased()
        let get = try #require(try Self.request(Self.route(.get, "/v1/orders/{order_id}"), path: ["order_id": id], body: nil) as? GetOrderRequest)
        #expect(get.orderId == id)
        let cancel = try #require(try Self.request(Self.route(.post, "/v1/orders/{order_id}:cancel"), path: ["order_id": id],
                                                   body: "{}") as? CancelOrderRequest)
        #expect(cancel.orderId == id)
    }

    @Test("POST /v1/payments takes the documented body; a Payment, declined too, answers with every documented member")
    func createPayment() throws {
        let orderID = UUID().uuidString.lowercased()
        let request = try #require(try Self.request(Self.route(.post, "/v1/payments"), body: """
            {"orderId": "\(orderID)", "amount": "4248", "currency": "EUR", "card": {"number": "4242424242424242", "expMonth": 12, "expYear": 2031, "cvc": "123"}}
            """) as? CreatePaymentRequest)
        #expect(request.orderId == orderID && request.amount == 4248 && request.currency == "EUR")
        #expect(request.card?.number == "4242424242424242" && request.card?.expMonth == 12 && request.card?.expYear == 2031)
        #expect(request.card?.cvc == "123")

        var payment = Payment()
        payment.id = UUID().uuidString.lowercased()
        payment.orderId = orderID
        payment.userId = UUID().uuidString.lowercased()
        payment.status = .succeeded
        payment.amount = 4248
        payment.currency = "EUR"
        payment.cardBrand = "visa"
        payment.cardLast4 = "4242"
        payment.createdAt = Google_Protobuf_Timestamp(seconds: 1_767_225_600)
        let succeeded = try Self.answer(payment)
        Self.check(succeeded, is: .object(Self.payment))
        #expect(succeeded["declineReason"] == .string(""))
        payment.status = .declined
        payment.declineReason = "insufficient_funds"
        let declined = try Self.answer(payment)
        Self.check(declined, is: .object(Self.payment))
        #expect(declined["status"] == .string("DECLINED"))
        #expect(declined["amount"] == .string("4248"))
    }

    @Test("GET /v1/payments/{paymentId} and POST /v1/payments/{paymentId}:refund take the id from the path")
    func paymentByID() throws {
        let id = UUID().uuidString.lowercased()
        let get = try #require(try Self.request(Self.route(.get, "/v1/payments/{payment_id}"), path: ["payment_id": id], body: nil) as? GetPaymentRequest)
        #expect(get.paymentId == id)
        let refund = try #require(try Self.request(Self.route(.post, "/v1/payments/{payment_id}:refund"), path: ["payment_id": id],
                                                   body: "{}") as? RefundPaymentRequest)
        #expect(refund.paymentId == id)
    }

    @Test("the route table is exactly the documented one")
    func routeTable() {
        let routes = Set(SoukRoutes.all.map { "\($0.verb.rawValue) \($0.pathTemplate)" })
        #expect(routes == [
            "POST /v1/users", "POST /v1/auth/tokens", "GET /v1/users/me", "PATCH /v1/users/me",
            "POST /v1/orders", "GET /v1/orders", "GET /v1/orders/{order_id}", "POST /v1/orders/{order_id}:cancel",
            "POST /v1/payments", "GET /v1/payments/{payment_id}", "POST /v1/payments/{payment_id}:refund",
        ])
    }
}
