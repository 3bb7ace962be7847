import Foundation
import SoukProtobuf
import SoukTestSupport
import Testing

@Suite("The REST bridge, end to end: HTTP/JSON over TCP to the real services and PostgreSQL")
struct GatewayTests {
    typealias H = GatewayTestHarness

    static let order = #"{"currency":"EUR","items":[{"sku":"BOOK-1","quantity":2,"unitPrice":"1999"},{"sku":"PEN","quantity":1,"unitPrice":250}]}"#

    static func payment(_ orderID: String, number: String = "4242424242424242", amount: String = "4248") -> String {
        #"{"orderId":"\#(orderID)","amount":"\#(amount)","currency":"EUR","card":{"number":"\#(number)","expMonth":12,"expYear":2031,"cvc":"123"}}"#
    }

    @Test("the whole table: register, token, profile, order, list with pages, pay with each test card, refund, cancel")
    func wholeTable() async throws {
        try await H.with { h in
            let (userID, token) = try await h.signUp("ada")
            let me = try await h.request("GET", "/v1/users/me", token: token)
            #expect(me.status == 200 && me.str("id") == userID && me.str("fullName") == "ada")
            let renamed = try await h.request("PATCH", "/v1/users/me", token: token, body: #"{"fullName":"Ada Lovelace"}"#)
            #expect(renamed.status == 200 && renamed.str("fullName") == "Ada Lovelace", "\(renamed)")

            let created = try await h.request("POST", "/v1/orders", token: token, body: Self.order)
            #expect(created.status == 201, "\(created)")
            let orderID = try created.string("id")
            #expect(created.str("status") == "PENDING" && created.str("total") == "4248")
            #expect(created.json["items"]?[0]?["unitPrice"] == .string("1999"))
            let read = try await h.request("GET", "/v1/orders/\(orderID)", token: token)
            #expect(read.status == 200 && read.json == created.json)

            let second = try await h.request("POST", "/v1/orders", token: token, body: Self.order)
            let firstPage = try await h.request("GET", "/v1/orders?pageSize=1", token: token)
            #expect(firstPage.status == 200 && firstPage.json["orders"]?[0]?["id"] == second.json["id"])
            let next = try firstPage.string("nextPageToken")
            let secondPage = try await h.request("GET", "/v1/orders?pageSize=1&pageToken=\(next)", token: token)
            #expect(secondPage.json["orders"]?[0]?["id"] == .string(orderID), "\(secondPage)")
            #expect(secondPage.json["nextPageToken"] == .string(""))

            // The declining cards: 201 with the payment DECLINED, the order still PENDING.
            for (number, reason) in [("4000000000000002", "card_declined"), ("4000000000009995", "insufficient_funds"),
                                     ("4000000000000069", "expired_card")] {
                let declined = try await h.request("POST", "/v1/payments", token: token,
                                                   headers: [("Idempotency-Key", UUID().uuidString)],
                                                   body: Self.payment(orderID, number: number))
                #expect(declined.status == 201 && declined.str("status") == "DECLINED", "\(declined)")
                #expect(declined.str("declineReason") == reason)
            }
            let failing = try await h.request("POST", "/v1/payments", token: token, headers: [("Idempotency-Key", "k-fail")],
                                              body: Self.payment(orderID, number: "4000000000000119"))
            #expect(failing.status == 503 && failing.str("status") == "UNAVAILABLE", "\(failing)")
            let paid = try await h.request("POST", "/v1/payments", token: token, headers: [("Idempotency-Key", "k-pay")],
                                           body: Self.payment(orderID))
            #expect(paid.status == 201 && paid.str("status") == "SUCCEEDED", "\(paid)")
            #expect(paid.str("cardBrand") == "visa" && paid.str("cardLast4") == "4242")
            #expect(paid.json["declineReason"] == .string(""))
            let replayed = try await h.request("POST", "/v1/payments", token: token, headers: [("Idempotency-Key", "k-pay")],
                                               body: Self.payment(orderID))
            #expect(replayed.status == 201 && replayed.json == paid.json)
            #expect(try await h.request("GET", "/v1/orders/\(orderID)", token: token).str("status") == "PAID")
            let paymentID = try paid.string("id")
            #expect(try await h.request("GET", "/v1/payments/\(paymentID)", token: token).json == paid.json)

            let refunded = try await h.request("POST", "/v1/payments/\(paymentID):refund", token: token, body: "{}")
            #expect(refunded.status == 200 && refunded.str("status") == "REFUNDED", "\(refunded)")
            #expect(try await h.request("GET", "/v1/orders/\(orderID)", token: token).str("status") == "REFUNDED")

            let cancelled = try await h.request("POST", "/v1/orders/\(try second.string("id")):cancel", token: token, body: "{}")
            #expect(cancelled.status == 200 && cancelled.str("status") == "CANCELLED", "\(cancelled)")
        }
    }

    @Test("errors carry grpc-gateway's body and HTTP status: 401 with WWW-Authenticate, 404, 409, 400 with JSON field paths")
    func errorMapping() async throws {
        try await H.with { h in
            let anonymous = try await h.request("GET", "/v1/users/me")
            #expect(anonymous.status == 401 && anonymous.header("www-authenticate") == "Bearer")
            #expect(anonymous.str("status") == "UNAUTHENTICATED" && anonymous.description.contains(#""code":16"#))
            #expect(anonymous.json["details"] == .array([]) && anonymous.json["message"] != nil)

            let (_, token) = try await h.signUp()
            let missing = try await h.request("GET", "/v1/orders/\(UUID().uuidString.lowercased())", token: token)
            #expect(missing.status == 404 && missing.str("status") == "NOT_FOUND")

            let email = "dup-\(UUID().uuidString.prefix(6))@example.com"
            let user = #"{"email":"\#(email)","password":"correct horse battery","fullName":"x"}"#
            _ = try await h.request("POST", "/v1/users", body: user)
            let duplicate = try await h.request("POST", "/v1/users", body: user)
            #expect(duplicate.status == 409 && duplicate.str("status") == "ALREADY_EXISTS")

            let invalid = try await h.request("POST", "/v1/orders", token: token,
                                              body: #"{"currency":"eur","items":[{"sku":"A","quantity":0,"unitPrice":"-1"}]}"#)
            #expect(invalid.status == 400 && invalid.str("status") == "INVALID_ARGUMENT")
            let fields = invalid.violationFields
            #expect(fields == ["currency", "items[0].quantity", "items[0].unitPrice"], "\(invalid)")

            let order = try await h.request("POST", "/v1/orders", token: token, body: Self.order)
            let wrongAmount = try await h.request("POST", "/v1/payments", token: token, headers: [("Idempotency-Key", "k")],
                                                  body: Self.payment(try order.string("id"), amount: "1"))
            #expect(wrongAmount.status == 400 && wrongAmount.str("status") == "FAILED_PRECONDITION")
            let noKey = try await h.request("POST", "/v1/payments", token: token, body: Self.payment(try order.string("id")))
            #expect(noKey.status == 400 && noKey.description.contains("Idempotency-Key"), "\(noKey)")
        }
    }

    @Test("bad input is a 400 naming the field, never a 500", arguments: [
        ("not json", ""), (#"[1,2]"#, ""), (#"{"currency": 5}"#, "currency"), (#"{"colour":"red"}"#, "colour"),
        (#"{"items":[{"sku":"A","colour":"red"}]}"#, "items[0].colour"), (#"{"currency":"E\u0000R"}"#, "currency"),
        (#"{"currency":"\ud800"}"#, ""), (#"{"items":[{"quantity":"many"}]}"#, "items[0].quantity"),
    ])
    func badInput(body: String, field: String) async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let answer = try await h.request("POST", "/v1/orders", token: token, body: body)
            #expect(answer.status == 400 && answer.str("status") == "INVALID_ARGUMENT", "\(answer)")
            if !field.isEmpty {
                #expect(answer.json["details"]?[0]?["field"] == .string(field), "\(answer)")
            }
        }
    }

    @Test("nesting deeper than 64 is 400; a body over 1 MiB is 413, declared or chunked, without reading it all")
    func limits() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let deep = String(repeating: #"{"a":"#, count: 70) + "1" + String(repeating: "}", count: 70)
            let tooDeep = try await h.request("POST", "/v1/orders", token: token, body: deep)
            #expect(tooDeep.status == 400, "\(tooDeep)")

            // Declared: answered before the body is sent.
            let declared = try await h.raw(Array("""
                POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n
                """.utf8), limit: .seconds(10))
            #expect(declared.status == 413, "\(declared)")

            // Chunked: 2 MiB in 64 KiB chunks.
            var bytes = Array("POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".utf8)
            let chunk = [UInt8](repeating: 0x20, count: 65_536)
            for _ in 0..<32 { bytes += Array("10000\r\n".utf8) + chunk + Array("\r\n".utf8) }
            bytes += Array("0\r\n\r\n".utf8)
            let chunked = try await h.raw(bytes)
            #expect(chunked.status == 413, "\(chunked)")
        }
    }

    @Test("an unknown path is 404 and a wrong verb 405 with Allow, in the same shape; internal rpcs have no route")
    func routing() async throws {
        try await H.with { h in
            let unknown = try await h.request("GET", "/v1/nothing")
            #expect(unknown.status == 404 && unknown.str("status") == "NOT_FOUND")
            let wrongVerb = try await h.request("DELETE", "/v1/users/me")
            #expect(wrongVerb.status == 405 && wrongVerb.header("allow") == "GET, PATCH", "\(wrongVerb)")
            #expect(wrongVerb.str("status") == "UNIMPLEMENTED")
            for path in ["/v1/orders/\(UUID().uuidString):markPaid", "/souk.orders.v1.OrdersService/MarkOrderPaid",
                         "/souk.users.v1.UsersService/GetUser"] {
                #expect(try await h.request("POST", path, body: "{}").status == 404)
            }
        }
    }

    @Test("X-Request-Id is echoed, or made; Grpc-Timeout must be well formed")
    func headers() async throws {
        try await H.with { h in
            let echoed = try await h.request("GET", "/healthz", headers: [("X-Request-Id", "req-42")])
            #expect(echoed.status == 200 && echoed.header("x-request-id") == "req-42")
            let made = try await h.request("GET", "/v1/users/me")
            #expect(UUID(uuidString: made.header("x-request-id") ?? "") != nil)
            let (_, token) = try await h.signUp()
            let bad = try await h.request("GET", "/v1/users/me", token: token, headers: [("Grpc-Timeout", "soon")])
            #expect(bad.status == 400 && bad.description.contains("Grpc-Timeout"))
            let fine = try await h.request("GET", "/v1/users/me", token: token, headers: [("Grpc-Timeout", "2S")])
            #expect(fine.status == 200)
        }
    }

    @Test("/metrics counts requests by route template and status, and the calls to each service")
    func metrics() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            _ = try await h.request("GET", "/v1/orders/\(UUID().uuidString.lowercased())", token: token)
            _ = try await h.request("GET", "/v1/nothing/\(UUID().uuidString)")
            let metrics = try await h.request("GET", "/metrics")
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(metrics.status == 200 && metrics.header("content-type")?.hasPrefix("text/plain") == true)
            #expect(text.contains(#"souk_gateway_requests_total{route="GET /v1/orders/{order_id}",status="404"} 1"#), "\(text)")
            #expect(text.contains(#"souk_gateway_requests_total{route="POST /v1/users",status="201"} 1"#))
            #expect(text.contains(#"souk_gateway_requests_total{route="unmatched",status="404"} 1"#))
            #expect(text.contains(#"souk_gateway_service_calls_total{service="souk.orders.v1.OrdersService",method="GetOrder",code="NOT_FOUND"} 1"#))
            #expect(text.contains("souk_gateway_request_duration_seconds_bucket"))
        }
    }

    @Test("/docs is a page that renders /openapi.json, with its script and style served by the gateway itself")
    func docs() async throws {
        try await H.with { h in
            let page = try await h.request("GET", "/docs")
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(page.status == 200 && page.header("content-type")?.hasPrefix("text/html") == true)
            #expect(html.contains(#"src="/docs/docs.js""#) && html.contains(#"href="/docs/docs.css""#))
            #expect(!html.contains("http://") && !html.contains("https://"))
            let script = try await h.request("GET", "/docs/docs.js")
            #expect(script.status == 200 && String(decoding: script.body, as: UTF8.self).contains("/openapi.json"))
            #expect(try await h.request("GET", "/docs/docs.css").status == 200)
        }
    }

    @Test("/healthz, /readyz (503 naming a service that is down) and /openapi.json")
    func documents() async throws {
        try await H.with { h in
            #expect(try await h.request("GET", "/healthz").status == 200)
            let ready = try await h.request("GET", "/readyz")
            #expect(ready.status == 200, "\(ready)")
            let openAPI = try await h.request("GET", "/openapi.json")
            #expect(openAPI.status == 200 && openAPI.json["openapi"] != nil && openAPI.json["paths"]?["/v1/orders"] != nil)
            await h.system.ordersServer.stop()
            let notReady = try await h.request("GET", "/readyz")
            #expect(notReady.status == 503 && notReady.description.contains("souk.orders.v1.OrdersService"), "\(notReady)")
            try await h.system.ordersServer.start()
        }
    }
}
