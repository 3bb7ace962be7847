import Foundation
import SoukContracts
import SoukPayments
import SoukPostgres
import SoukRPC
import SoukRPCCore
import SoukServiceKit
import SoukTestSupport
import Testing

@Suite("The outbox: a succeeded payment always reaches its order")
struct OutboxTests {
    typealias H = PaymentsTestHarness

    @Test("orders going down during a payment: SUCCEEDED now, and the order PAID once orders is back")
    func ordersDownDuringPayment() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let payment = try await h.payWhileOrdersGoesDown(order, token: token)
            #expect(payment.status == .succeeded)
            #expect(try await h.count("SELECT count(*) FROM payment_outbox WHERE settled_at IS NULL") == 1)
            try await Task.sleep(for: .milliseconds(500))  // retries fail while orders is down
            #expect(try await h.count("SELECT max(attempts) FROM payment_outbox") >= 2)
            try await h.ordersServer.start()
            let paid = try await h.awaitOrder(order.id, token: token, status: .paid)
            #expect(paid.status == .paid)
            #expect(try await h.awaitCount("SELECT count(*) FROM payment_outbox WHERE outcome = 'delivered'", 1) == 1)
        }
    }

    @Test("two relays on one outbox deliver every row, none twice at once, and never wait for each other")
    func twoRelays() async throws {
        // The relays start once the rows are in place and two of them are locked.
        try await H.with(relaying: false) { h in
            let (_, token) = try await h.signUp()
            var orders: [Order] = []
            for _ in 0..<12 { orders.append(try await h.placeOrder(token)) }
            // Orders refuses MarkOrderPaid for now (UNAVAILABLE): every payment succeeds and waits in the outbox.
            h.ordersSaw.refuseMarkPaid(true)
            var payments: [Payment] = []
            for order in orders { payments.append(try await h.pay(order, token: token)) }
            #expect(payments.allSatisfy { $0.status == .succeeded })
            #expect(try await h.count("SELECT count(*) FROM payment_outbox WHERE settled_at IS NULL") == 12)

            // A second payments process: its own pool and client, relaying the same outbox.
            let secondPool = try PostgresPool(url: h.url, applicationName: "souk_tests", logger: TestSchema.logger)
            let secondClient = H.ordersClient(h.ordersServer.port)
            var settings = H.relaySettings
            settings.batchSize = 1
            let second = OutboxRelay(database: secondPool, orders: OrdersService.Client(transport: secondClient),
                                     credentials: OutgoingCredentials(caller: "souk-payments", key: h.serviceKey),
                                     processor: h.network, configuration: settings, logger: TestSchema.logger)
            // A transaction holds two rows locked (as a relay leasing them would): the relays skip them.
            let blocker = try PostgresPool(url: h.url, applicationName: "souk_tests", logger: TestSchema.logger)
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            let (lockedSignal, locked) = AsyncStream.makeStream(of: Void.self)
            let holding = Task {
                try await blocker.transaction { tx in
                    _ = try await tx.query("SELECT outbox_id FROM payment_outbox ORDER BY outbox_id LIMIT 2 FOR UPDATE")
                    locked.yield()
                    for await _ in released { break }
                }
            }
            for await _ in lockedSignal { break }
            h.ordersSaw.refuseMarkPaid(false)
            let started = ContinuousClock.now
            let relaying = Task { try await second.run() }
            let relayingHere = Task { try await h.relay.run() }
            // Ten rows are delivered while two stay locked.
            let end = ContinuousClock.now + .seconds(15)
            while try await h.count("SELECT count(*) FROM payment_outbox WHERE settled_at IS NOT NULL") < 10, ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await h.count("SELECT count(*) FROM payment_outbox WHERE settled_at IS NOT NULL") == 10)
            #expect(ContinuousClock.now - started < .seconds(10))
            release.yield()
            release.finish()
            try await holding.value
            for order in orders { #expect(try await h.awaitOrder(order.id, token: token, status: .paid).status == .paid) }
            #expect(try await h.awaitCount("SELECT count(*) FROM payment_outbox WHERE outcome = 'delivered'", 12) == 12)
            #expect(h.ordersSaw.mostMarkPaidAtOnce == 1)
            // Both relays delivered some of them (each leases a few rows at a time).
            #expect(second.deliveredCount >= 1 && h.relay.deliveredCount >= 1)
            #expect(second.deliveredCount + h.relay.deliveredCount == 12)
            // One history row per payment: no row was applied twice.
            let ids = orders.map { UUID(uuidString: $0.id)! }
            var paidRows: Int64 = 0
            for id in ids {
                paidRows += try await h.ordersPool.query(
                    "SELECT count(*) FROM order_status_history WHERE order_id = \(id) AND to_status = 'paid'")[0].decode(0, as: Int64.self)
            }
            #expect(paidRows == 12)
            relaying.cancel()
            relayingHere.cancel()
            _ = try? await relaying.value
            _ = try? await relayingHere.value
            await secondClient.close()
            await secondPool.shutdown()
            await blocker.shutdown()
        }
    }

    @Test("a refund reaches orders after its payment: the order ends REFUNDED even when both wait in the outbox")
    func refundAfterPayment() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let payment = try await h.payWhileOrdersGoesDown(order, token: token)
            var refund = RefundPaymentRequest()
            refund.paymentId = payment.id
            #expect(try await h.payments.refundPayment(refund, options: bearer(token)).status == .refunded)
            try await h.ordersServer.start()
            #expect(try await h.awaitOrder(order.id, token: token, status: .refunded).status == .refunded)
            _ = try await h.awaitCount("SELECT count(*) FROM payment_outbox WHERE outcome = 'delivered'", 2)
            let outcomes = try await h.pool.query("SELECT kind, outcome FROM payment_outbox ORDER BY outbox_id").map {
                "\(try $0.decode(0, as: String.self)):\(try $0.decode(1, as: String.self))"
            }
            #expect(outcomes == ["mark_paid:delivered", "mark_refunded:delivered"])
        }
    }

    @Test("a cancel that reaches the order during the charge wins: the payment is refunded and answers FAILED_PRECONDITION")
    func cancelDuringCharge() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let orders = h.orders
            h.network.duringCharge {
                var cancel = CancelOrderRequest()
                cancel.orderId = order.id
                _ = try? await orders.cancelOrder(cancel, options: bearer(token))
            }
            let error = try await rpcError { _ = try await h.pay(order, token: token, key: "raced") }
            h.network.duringCharge(nil)
            #expect(error.code == .failedPrecondition && error.message.contains("refunded"))
            #expect(try await h.order(order.id, token: token).status == .cancelled)
            #expect(h.network.charges.count == 1 && h.network.refunds == h.network.charges)
            #expect(try await h.count("SELECT count(*) FROM payments WHERE status = 'refunded'") == 1)
            // The key replays that answer.
            #expect(try await rpcError { _ = try await h.pay(order, token: token, key: "raced") } == error)
        }
    }

    @Test("paying and cancelling one order at once: exactly one of them wins, every time")
    func payVersusCancel() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            for _ in 0..<8 {
                let order = try await h.placeOrder(token)
                async let paying: Result<Payment, RPCError> = {
                    do { return .success(try await h.pay(order, token: token)) }
                    catch let error as RPCError { return .failure(error) }
                    catch { return .failure(RPCError(.unknown, "\(error)")) }
                }()
                async let cancelling: Result<Order, RPCError> = {
                    var cancel = CancelOrderRequest()
                    cancel.orderId = order.id
                    do { return .success(try await h.orders.cancelOrder(cancel, options: bearer(token))) }
                    catch let error as RPCError { return .failure(error) }
                    catch { return .failure(RPCError(.unknown, "\(error)")) }
                }()
                let (paid, cancelled) = await (paying, cancelling)
                let final = try await h.order(order.id, token: token)
                let charged = try await h.count("SELECT count(*) FROM payments WHERE order_id = \(UUID(uuidString: order.id)!) AND status = 'succeeded'")
                switch final.status {
                case .paid:
                    // The payment won: it succeeded, the cancel was refused.
                    #expect((try? paid.get())?.status == .succeeded)
                    if case .failure(let error) = cancelled { #expect(error.code == .failedPrecondition) } else { Issue.record("the cancel of a paid order succeeded") }
                    #expect(charged == 1)
                case .cancelled:
                    // The cancel won: no charge is left standing.
                    #expect((try? cancelled.get())?.status == .cancelled)
                    if case .failure(let error) = paid { #expect(error.code == .failedPrecondition) } else { Issue.record("a payment of a cancelled order succeeded") }
                    #expect(charged == 0)
                default:
                    Issue.record("the order ended \(final.status)")
                }
            }
            #expect(Set(h.network.charges).subtracting(h.network.refunds).count
                    == Int(try await h.count("SELECT count(*) FROM payments WHERE status = 'succeeded'")))
        }
    }
}
