import Foundation
import SoukContracts
import SoukPostgres
import SoukRPC
import SoukRPCCore
import SoukTestSupport
import SoukWire
import Testing

@Suite("RefundPayment, GetPayment and ListPaymentsForOrder: the owner's alone")
struct RefundAndReadTests {
    typealias H = PaymentsTestHarness

    static func refund(_ id: String) -> RefundPaymentRequest {
        var request = RefundPaymentRequest()
        request.paymentId = id
        return request
    }

    @Test("a succeeded payment is refunded once: REFUNDED, the order REFUNDED, and a second refund is FAILED_PRECONDITION")
    func refundOnce() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let payment = try await h.pay(order, token: token)
            let refunded = try await h.payments.refundPayment(Self.refund(payment.id), options: bearer(token))
            #expect(refunded.status == .refunded && refunded.id == payment.id && refunded.amount == payment.amount)
            #expect(try await h.order(order.id, token: token).status == .refunded)
            let again = try await rpcError { _ = try await h.payments.refundPayment(Self.refund(payment.id), options: bearer(token)) }
            #expect(again.code == .failedPrecondition && again.message.contains("REFUNDED"))
            #expect(h.network.refunds.count == 1)
        }
    }

    @Test("ten concurrent refunds of one payment: one refunds, the others are FAILED_PRECONDITION")
    func concurrentRefunds() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let payment = try await h.pay(try await h.placeOrder(token), token: token)
            let results = await withTaskGroup(of: RPCStatusCode.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        do { _ = try await h.payments.refundPayment(Self.refund(payment.id), options: bearer(token)); return .ok }
                        catch let error as RPCError { return error.code }
                        catch { return .unknown }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { $0 == .ok }.count == 1)
            #expect(results.filter { $0 == .failedPrecondition }.count == 9)
            #expect(h.network.refunds.count == 1)
            #expect(try await h.count("SELECT count(*) FROM payment_outbox WHERE kind = 'mark_refunded'") == 1)
        }
    }

    @Test("a declined payment cannot be refunded; another user's payment is NOT_FOUND like a missing one")
    func refundRefusals() async throws {
        try await H.with { h in
            let (_, ada) = try await h.signUp("ada")
            let (_, bob) = try await h.signUp("bob")
            let order = try await h.placeOrder(ada)
            let declined = try await h.pay(order, token: ada, number: "4000000000000002")
            let error = try await rpcError { _ = try await h.payments.refundPayment(Self.refund(declined.id), options: bearer(ada)) }
            #expect(error.code == .failedPrecondition && error.message.contains("DECLINED"))
            let paid = try await h.pay(order, token: ada)
            let foreign = try await rpcError { _ = try await h.payments.refundPayment(Self.refund(paid.id), options: bearer(bob)) }
            #expect(foreign.code == .notFound)
            var get = GetPaymentRequest()
            get.paymentId = paid.id
            #expect(try await rpcError { _ = try await h.payments.getPayment(get, options: bearer(bob)) }.code == .notFound)
            get.paymentId = "nope"
            let malformed = try await rpcError { _ = try await h.payments.getPayment(get, options: bearer(ada)) }
            #expect(malformed.code == .invalidArgument)
            #expect(try await h.order(order.id, token: ada).status == .paid)
            #expect(h.network.refunds.isEmpty)
        }
    }

    @Test("an order's payments are listed oldest first, a page at a time, to its owner only")
    func list() async throws {
        try await H.with { h in
            let (_, ada) = try await h.signUp("ada")
            let (_, bob) = try await h.signUp("bob")
            let order = try await h.placeOrder(ada)
            var made: [Payment] = []
            for _ in 0..<4 { made.append(try await h.pay(order, token: ada, number: "4000000000000002")) }
            made.append(try await h.pay(order, token: ada))
            var request = ListPaymentsForOrderRequest()
            request.orderId = order.id
            request.pageSize = 2
            var listed: [Payment] = []
            var pages = 0
            repeat {
                let page = try await h.payments.listPaymentsForOrder(request, options: bearer(ada))
                listed += page.payments
                request.pageToken = page.nextPageToken
                pages += 1
            } while !request.pageToken.isEmpty
            #expect(listed == made && pages == 3)

            request.pageToken = ""
            let foreign = try await rpcError { _ = try await h.payments.listPaymentsForOrder(request, options: bearer(bob)) }
            #expect(foreign.code == .notFound)
            let empty = try await h.placeOrder(ada)
            request.orderId = empty.id
            #expect(try await h.payments.listPaymentsForOrder(request, options: bearer(ada)).payments.isEmpty)

            request.orderId = order.id
            request.pageToken = "forged"
            request.pageSize = 101
            let bad = try await rpcError { _ = try await h.payments.listPaymentsForOrder(request, options: bearer(ada)) }
            #expect(bad.code == .invalidArgument)
            #expect(try ErrorDetails(serializedBytes: bad.details).badRequest?.fieldViolations.map(\.field) == ["page_size", "page_token"])
        }
    }
}

@Suite("No card data is kept")
struct CardDataTests {
    typealias H = PaymentsTestHarness

    @Test("the card number and CVC never reach a column of the database or a log line")
    func noCardData() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let cards = ["4242424242424242", "4000000000000002", "4000000000000119", "5555555555554444"]
            for number in cards {
                let order = try await h.placeOrder(token)
                _ = try? await h.payments.createPayment(H.request(order, number: number, cvc: "9876"), options: H.options(token))
            }
            // Also a request refused by validation, and one refused for its key.
            let order = try await h.placeOrder(token)
            _ = try? await h.payments.createPayment(H.request(order, number: "4242424242424241", cvc: "9876"), options: H.options(token))
            _ = try? await h.pay(order, token: token, key: "same")
            _ = try? await h.pay(order, token: token, key: "same", number: "5555555555554444")
            #expect(try await h.count("SELECT count(*) FROM payments") >= 3)

            // Every row of every table of the schema, as JSON text: text columns as they are,
            // bytea columns in hex (so the number's ASCII bytes are searched for in hex too).
            let rows: [String] = try await h.pool.transaction { tx in
                _ = try await tx.execute("""
                    CREATE FUNCTION pg_temp.rows_as_text(name text) RETURNS SETOF text LANGUAGE plpgsql AS
                    $$ BEGIN RETURN QUERY EXECUTE format('SELECT to_jsonb(t)::text FROM %I t', name); END $$
                    """)
                return try await tx.query("""
                    SELECT pg_temp.rows_as_text(table_name::text) FROM information_schema.tables
                    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                    """).map { try $0.decode(0, as: String.self) }
            }
            #expect(rows.count >= 10)
            let dump = rows.joined(separator: "\n")
            for number in cards + ["4242424242424241"] {
                let hex = number.utf8.map { String(format: "%02x", $0) }.joined()
                #expect(!dump.contains(number) && !dump.contains(hex), "a row holds a card number")
            }
            #expect(!dump.contains("9876") && !dump.contains("39383736"), "a row holds the CVC")
            let bytes = try await h.pool.query("SELECT answer FROM idempotency_keys WHERE answer IS NOT NULL").map {
                try $0.decode(0, as: [UInt8].self)
            }
            for answer in bytes {
                #expect(!String(decoding: answer, as: UTF8.self).contains("42424242"))
            }
            let logs = h.logs.all.joined(separator: "\n")
            #expect(!logs.isEmpty)
            for number in cards + ["4242424242424241"] { #expect(!logs.contains(number)) }
        }
    }
}
