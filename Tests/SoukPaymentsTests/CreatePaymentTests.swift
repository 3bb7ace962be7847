import Foundation
import SoukContracts
import SoukPayments
import SoukPostgres
import SoukRPC
import SoukRPCCore
import SoukTestSupport
import SoukWire
import Testing

@Suite("CreatePayment, against a real PostgreSQL and the real orders and users services over TCP")
struct CreatePaymentTests {
    typealias H = PaymentsTestHarness

    static func fields(_ error: RPCError) throws -> [String] {
        try ErrorDetails(serializedBytes: error.details).badRequest?.fieldViolations.map(\.field) ?? []
    }

    // MARK: The test cards

    @Test("4242424242424242 succeeds: the payment keeps the brand and last four digits, and the order is PAID when it answers")
    func succeeds() async throws {
        try await H.with { h in
            let (userID, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let payment = try await h.pay(order, token: token)
            #expect(payment.status == .succeeded && payment.declineReason.isEmpty)
            #expect(payment.orderId == order.id && payment.userId == userID)
            #expect(payment.amount == order.total && payment.currency == "EUR")
            #expect(payment.cardBrand == "visa" && payment.cardLast4 == "4242")
            #expect(UUID(uuidString: payment.id) != nil && payment.createdAt != nil)
            #expect(try await h.order(order.id, token: token).status == .paid)
            #expect(h.network.charges.map(\.uuidString).map { $0.lowercased() } == [payment.id])
            var get = GetPaymentRequest()
            get.paymentId = payment.id
            #expect(try await h.payments.getPayment(get, options: bearer(token)) == payment)
            #expect(try await h.count("SELECT count(*) FROM payment_outbox WHERE settled_at IS NOT NULL AND outcome = 'delivered'") == 1)
        }
    }

    @Test("other Luhn-valid numbers succeed, with their brand detected", arguments: [
        ("5555555555554444", "mastercard"), ("2223003122003222", "mastercard"), ("378282246310005", "amex"),
        ("6011111111111117", "discover"), ("3056930009020004", "diners"), ("3566002020360505", "jcb"),
        ("6200000000000005", "unionpay"), ("9999999999999995", "unknown"),
    ])
    func brands(number: String, brand: String) async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let payment = try await h.pay(order, token: token, number: number)
            #expect(payment.status == .succeeded && payment.cardBrand == brand && payment.cardLast4 == String(number.suffix(4)))
        }
    }

    @Test("declining cards are recorded DECLINED with their reason, nothing is charged, and the order stays PENDING", arguments: [
        ("4000000000000002", "card_declined"), ("4000000000009995", "insufficient_funds"), ("4000000000000069", "expired_card"),
    ])
    func declined(number: String, reason: String) async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let payment = try await h.pay(order, token: token, number: number)
            #expect(payment.status == .declined && payment.declineReason == reason)
            #expect(h.network.charges.isEmpty)
            #expect(try await h.order(order.id, token: token).status == .pending)
            #expect(try await h.count("SELECT count(*) FROM payments WHERE status = 'declined'") == 1)
            #expect(try await h.count("SELECT count(*) FROM payment_outbox") == 0)
            // The order can still be paid, with another card and another key.
            #expect(try await h.pay(order, token: token).status == .succeeded)
        }
    }

    @Test("a processing error is UNAVAILABLE, records nothing, and leaves the key free for a retry")
    func processingError() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let error = try await rpcError { _ = try await h.pay(order, token: token, key: "retry-me", number: "4000000000000119") }
            #expect(error.code == .unavailable && error.message.contains("nothing was charged"))
            #expect(try await h.count("SELECT count(*) FROM payments") == 0)
            #expect(try await h.count("SELECT count(*) FROM idempotency_keys") == 0)
            #expect(try await h.order(order.id, token: token).status == .pending)
        }
    }

    // MARK: Validation

    @Test("every violation is reported at once with its field path, no message quotes the card, and nothing is stored")
    func violations() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            var request = CreatePaymentRequest()
            request.orderId = "not-a-uuid"
            request.amount = -1
            request.currency = "eur"
            var card = Card()
            card.number = "4242424242424241"
            card.expMonth = 13
            card.expYear = 2020
            card.cvc = "12"
            request.card = card
            let error = try await rpcError { _ = try await h.payments.createPayment(request, options: H.options(token, key: nil)) }
            #expect(error.code == .invalidArgument)
            #expect(try Self.fields(error) == ["idempotency-key", "order_id", "amount", "currency", "card.number",
                                               "card.exp_month", "card.exp_year", "card.cvc"])
            #expect(!error.message.contains("4242424242424241"))
            let details = try ErrorDetails(serializedBytes: error.details).badRequest?.fieldViolations.map(\.description) ?? []
            #expect(!details.joined().contains("424242"))

            request.card = nil
            let noCard = try await rpcError { _ = try await h.payments.createPayment(request, options: H.options(token)) }
            #expect(try Self.fields(noCard).contains("card"))
            #expect(try await h.count("SELECT count(*) FROM idempotency_keys") == 0)
            #expect(try await h.count("SELECT count(*) FROM payments") == 0)
        }
    }

    @Test("card numbers: digits only, 12 to 19 of them, Luhn-valid; an expiry in the past is refused; CVC 3 or 4 digits",
          arguments: [
              ("4242 4242 4242 4242", "card.number"), ("42424242424", "card.number"), ("42424242424242424242", "card.number"),
              ("", "card.number"),
          ])
    func numbers(number: String, field: String) async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let error = try await rpcError { _ = try await h.pay(order, token: token, number: number) }
            #expect(try error.code == .invalidArgument && Self.fields(error) == [field])
        }
    }

    @Test("the expiry month of this year is still good; last month is not")
    func expiry() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            let now = utc.dateComponents([.year, .month], from: Date())
            let lastMonth = utc.dateComponents([.year, .month], from: utc.date(byAdding: .month, value: -1, to: Date())!)
            let expired = H.request(order, expMonth: Int32(lastMonth.month!), expYear: Int32(lastMonth.year!))
            let error = try await rpcError { _ = try await h.payments.createPayment(expired, options: H.options(token)) }
            #expect(try Self.fields(error) == ["card.exp_year"] && error.message.contains("expired"))
            let good = H.request(order, expMonth: Int32(now.month!), expYear: Int32(now.year!), cvc: "1234")
            #expect(try await h.payments.createPayment(good, options: H.options(token)).status == .succeeded)
        }
    }

    @Test("an idempotency key is 1 to 255 printable ASCII characters", arguments: [
        String(repeating: "k", count: 256), "tab\there", "é-key",
    ])
    func badKeys(key: String) async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let error = try await rpcError { _ = try await h.pay(order, token: token, key: key) }
            // The transport itself refuses metadata that is not printable ASCII, naming the key;
            // the service's own rule (for keys that come another way) is checked below.
            #expect(error.code == .invalidArgument && error.message.contains("idempotency-key"))
            #expect(try await h.count("SELECT count(*) FROM idempotency_keys") == 0)
            let violations = PaymentRules.check(H.request(order), key: key)
            #expect(violations.violations.map(\.field) == ["idempotency-key"])
        }
    }

    @Test("without an access token the call is UNAUTHENTICATED")
    func unauthenticated() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let error = try await rpcError {
                _ = try await h.payments.createPayment(H.request(order), options: CallOptions(metadata: Metadata(["idempotency-key": "k"])))
            }
            #expect(error.code == .unauthenticated)
        }
    }

    // MARK: The order

    @Test("another user's order answers exactly as a missing one, and nothing is charged")
    func foreignOrder() async throws {
        try await H.with { h in
            let (_, ada) = try await h.signUp("ada")
            let (_, bob) = try await h.signUp("bob")
            let adas = try await h.placeOrder(ada)
            var missing = adas
            missing.id = UUID().uuidString.lowercased()
            let foreign = try await rpcError { _ = try await h.pay(adas, token: bob) }
            let absent = try await rpcError { _ = try await h.pay(missing, token: bob) }
            #expect(foreign.code == .notFound && absent.code == .notFound)
            #expect(foreign.message.replacingOccurrences(of: adas.id, with: "ID") == absent.message.replacingOccurrences(of: missing.id, with: "ID"))
            #expect(h.network.charges.isEmpty)
        }
    }

    @Test("a cancelled or paid order, or an amount or currency that is not its total, is FAILED_PRECONDITION, and nothing is charged")
    func notPayable() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let cancelled = try await h.placeOrder(token)
            var cancel = CancelOrderRequest()
            cancel.orderId = cancelled.id
            _ = try await h.orders.cancelOrder(cancel, options: bearer(token))
            let error = try await rpcError { _ = try await h.pay(cancelled, token: token) }
            #expect(error.code == .failedPrecondition && error.message.contains("CANCELLED"))

            let order = try await h.placeOrder(token)
            let short = try await rpcError {
                _ = try await h.payments.createPayment(H.request(order, amount: order.total - 1), options: H.options(token))
            }
            #expect(short.code == .failedPrecondition && short.message.contains("not the total"))
            let dollars = try await rpcError {
                _ = try await h.payments.createPayment(H.request(order, currency: "USD"), options: H.options(token))
            }
            #expect(dollars.code == .failedPrecondition)
            #expect(h.network.charges.isEmpty)

            let paid = try await h.pay(order, token: token)
            let again = try await rpcError { _ = try await h.pay(order, token: token) }
            #expect(again.code == .failedPrecondition && again.message.contains("already paid") && again.message.contains(paid.id))
            #expect(h.network.charges.count == 1)
        }
    }

    @Test("the order is asked with the caller's own deadline, and orders being down is UNAVAILABLE with nothing charged")
    func ordersCheck() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let started = ContinuousClock.now
            _ = try await h.payments.createPayment(H.request(order), options: H.options(token, timeout: .seconds(3)))
            let deadline = try #require(h.ordersSaw.getOrderDeadlines.last ?? nil)
            // Each hop measures the time left on arrival, so the deadline may drift later by the hops' latency.
            #expect(deadline <= started + .milliseconds(3_200) && deadline > started + .seconds(1))

            let other = try await h.placeOrder(token)
            await h.ordersServer.stop()
            let error = try await rpcError { _ = try await h.pay(other, token: token, key: "while-down") }
            #expect(error.code == .unavailable && error.message.contains("nothing was charged"))
            #expect(try await h.count("SELECT count(*) FROM idempotency_keys WHERE key = 'while-down'") == 0)
            try await h.ordersServer.start()
            // The key was let go: the same key works once orders is back.
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await h.pay(other, token: token, key: "while-down").status == .succeeded)
        }
    }
}
