import Foundation
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukRPC
import SoukRPCCore
import SoukTestSupport
import SoukWire
import Testing

@Suite("The orders service, against a real PostgreSQL and the real users service over TCP")
struct OrdersServiceTests {
    typealias H = OrdersTestHarness

    static func fields(_ error: RPCError) throws -> [String] {
        try ErrorDetails(serializedBytes: error.details).badRequest?.fieldViolations.map(\.field) ?? []
    }

    // MARK: Creating

    @Test("an order is created PENDING for the caller, its total computed by the server, its creation in the history")
    func create() async throws {
        try await H.with { h in
            let (userID, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            #expect(UUID(uuidString: order.id) != nil && order.id == order.id.lowercased())
            #expect(order.userId == userID)
            #expect(order.status == .pending)
            #expect(order.currency == "EUR")
            #expect(order.total == 2 * 1999 + 250)
            #expect(order.items.map(\.sku) == ["BOOK-1", "PEN"])
            #expect(order.items.map(\.quantity) == [2, 1] && order.items.map(\.unitPrice) == [1999, 250])
            #expect(order.createdAt != nil && order.createdAt == order.updatedAt)
            #expect(try await h.orders.getOrder(Self.get(order.id), options: bearer(token)) == order)
            #expect(try await h.count("order_status_history", order: order.id) == 1)
            #expect(try await h.count("order_items", order: order.id) == 2)
        }
    }

    @Test("every violation is reported at once, with its field path, and nothing is written")
    func invalidItems() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let request = H.request(currency: "eur", [
                ("", 1, 1), ("OK-1", 0, 1), ("OK-2", 1, -1), ("OK-3", 10_001, 1_000_000_001), ("bad sku!", 1, 1),
                (String(repeating: "x", count: 65), 1, 1),
            ])
            let error = try await rpcError { _ = try await h.orders.createOrder(request, options: bearer(token)) }
            #expect(error.code == .invalidArgument)
            #expect(try Self.fields(error) == ["currency", "items[0].sku", "items[1].quantity", "items[2].unit_price",
                                               "items[3].quantity", "items[3].unit_price", "items[4].sku", "items[5].sku"])
            let none = try await rpcError { _ = try await h.orders.createOrder(H.request([]), options: bearer(token)) }
            #expect(try Self.fields(none) == ["items"])
            let tooMany = H.request(Array(repeating: ("SKU", 1, 1), count: 101))
            let many = try await rpcError { _ = try await h.orders.createOrder(tooMany, options: bearer(token)) }
            #expect(try Self.fields(many) == ["items"] && many.message.contains("at most 100"))
            #expect(try await h.pool.query("SELECT count(*) FROM orders")[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test("totals are exact int64 at the limits, and a price near Int64.max is refused, never wrapped")
    func int64Limits() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let largest = H.request(Array(repeating: ("MAX", 10_000, 1_000_000_000), count: 100))
            #expect(try await h.orders.createOrder(largest, options: bearer(token)).total == 1_000_000_000_000_000)
            let overflowing = H.request([("A", 10_000, .max), ("B", 2, .max)])
            let error = try await rpcError { _ = try await h.orders.createOrder(overflowing, options: bearer(token)) }
            #expect(error.code == .invalidArgument)
            #expect(try Self.fields(error) == ["items[0].unit_price", "items[1].unit_price"])
        }
    }

    @Test("a disabled or deleted account cannot order: FAILED_PRECONDITION, nothing written")
    func accountMustBeActive() async throws {
        try await H.with { h in
            let (userID, token) = try await h.signUp()
            _ = try await h.usersPool.execute("UPDATE users SET status = 'disabled' WHERE user_id = \(UUID(uuidString: userID)!)")
            let disabled = try await rpcError { _ = try await h.placeOrder(token) }
            #expect(disabled.code == .failedPrecondition && disabled.message.contains("disabled"))
            _ = try await h.usersPool.execute("DELETE FROM users WHERE user_id = \(UUID(uuidString: userID)!)")
            let gone = try await rpcError { _ = try await h.placeOrder(token) }
            #expect(gone.code == .failedPrecondition && gone.message.contains("no longer exists"))
            #expect(try await h.pool.query("SELECT count(*) FROM orders")[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test("with the users service stopped an order is UNAVAILABLE and nothing is written")
    func usersDown() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            h.usersServer.closeNow()
            let error = try await rpcError { _ = try await h.orders.createOrder(H.request([("A", 1, 1)]), options: bearer(token, timeout: .seconds(10))) }
            #expect(error.code == .unavailable, "\(error)")
            #expect(error.message.contains("users service"))
            #expect(try await h.pool.query("SELECT count(*) FROM orders")[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test("with several users replicas, one of them down, every order still gets its users check")
    func usersReplicas() async throws {
        let dead = try await Self.unusedPorts(2).map { RPCClient.Endpoint(host: "127.0.0.1", port: $0) }
        try await H.with(deadUsersEndpoints: dead) { h in
            let (_, token) = try await h.signUp()
            for _ in 0..<12 { #expect(try await h.placeOrder(token).status == .pending) }
            #expect(h.usersSaw.getUserDeadlines.count == 12)
        }
    }

    /// Ports on 127.0.0.1 that nothing listens on: a server is started on a free port and stopped.
    static func unusedPorts(_ count: Int) async throws -> [Int] {
        var ports: [Int] = []
        for _ in 0..<count {
            ports.append(try await TestServer.with(services: []) { _, server in try await server.listeningAddress.port! })
        }
        return ports
    }

    @Test("the caller's deadline reaches the users call; a users service slower than it is DEADLINE_EXCEEDED, nothing written")
    func deadlinePropagates() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let started = ContinuousClock.now
            _ = try await h.orders.createOrder(H.request([("A", 1, 1)]), options: bearer(token, timeout: .seconds(2)))
            let seen = try #require(h.usersSaw.getUserDeadlines.last ?? nil)
            // The orders service's own limit is 5 s: a users deadline about 2 s away came from the
            // caller (each hop rounds the remaining time to whole milliseconds on the wire).
            #expect(seen < started + .milliseconds(2_500) && seen > started, "the users call had \(seen - started) from the start")

            h.usersSaw.delayGetUser(by: .seconds(3))
            let error = try await rpcError { _ = try await h.orders.createOrder(H.request([("B", 1, 1)]), options: bearer(token, timeout: .milliseconds(500))) }
            #expect(error.code == .deadlineExceeded)
            #expect(try await h.pool.query("SELECT count(*) FROM orders")[0].decode(0, as: Int64.self) == 1)
        }
    }

    // MARK: Reading, and whose orders

    @Test("another user's order answers exactly as a missing one, on every rpc")
    func ownership() async throws {
        try await H.with { h in
            let (_, ada) = try await h.signUp("ada")
            let (_, grace) = try await h.signUp("grace")
            let order = try await h.placeOrder(ada)
            let missing = UUID().uuidString.lowercased()
            let foreignGet = try await rpcError { _ = try await h.orders.getOrder(Self.get(order.id), options: bearer(grace)) }
            let missingGet = try await rpcError { _ = try await h.orders.getOrder(Self.get(missing), options: bearer(grace)) }
            #expect(foreignGet.code == .notFound && missingGet.code == .notFound)
            #expect(foreignGet.message == "no order \(order.id)" && missingGet.message == "no order \(missing)")
            let foreignCancel = try await rpcError { _ = try await h.orders.cancelOrder(Self.cancel(order.id), options: bearer(grace)) }
            #expect(foreignCancel.code == .notFound)
            #expect(try await h.orders.listOrders(ListOrdersRequest(), options: bearer(grace)).orders.isEmpty)
            #expect(try await h.orders.getOrder(Self.get(order.id), options: bearer(ada)).status == .pending)
            // No token, or a forged one: UNAUTHENTICATED.
            #expect(try await rpcError { _ = try await h.orders.getOrder(Self.get(order.id)) }.code == .unauthenticated)
            #expect(try await rpcError { _ = try await h.orders.getOrder(Self.get(order.id), options: bearer("x.y.z")) }.code == .unauthenticated)
        }
    }

    @Test("an order id that is missing or not a UUID is INVALID_ARGUMENT naming the field")
    func invalidIDs() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            for id in ["", "nope", "'; DROP TABLE orders; --"] {
                let error = try await rpcError { _ = try await h.orders.getOrder(Self.get(id), options: bearer(token)) }
                #expect(error.code == .invalidArgument)
                #expect(try Self.fields(error) == ["order_id"])
            }
        }
    }

    // MARK: The status machine

    @Test("cancelling a pending order records it; cancelling again changes nothing")
    func cancel() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let cancelled = try await h.orders.cancelOrder(Self.cancel(order.id), options: bearer(token))
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.updatedAt.map { $0.unixMilliseconds >= order.createdAt!.unixMilliseconds } == true)
            #expect(try await h.orders.cancelOrder(Self.cancel(order.id), options: bearer(token)) == cancelled)
            #expect(try await h.count("order_status_history", order: order.id) == 2)
            let row = try await h.pool.query("""
                SELECT from_status, to_status, reason FROM order_status_history WHERE order_id = \(UUID(uuidString: order.id)!)
                ORDER BY history_id DESC LIMIT 1
                """)[0]
            #expect(try row.decode("from_status", as: String.self) == "pending" && row.decode("to_status", as: String.self) == "cancelled")
        }
    }

    @Test("every illegal move is FAILED_PRECONDITION naming the current status, and changes nothing")
    func illegalMoves() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            // PAID: cannot be cancelled or paid by another payment.
            let paid = try await h.markPaid(try await h.placeOrder(token))
            let cancelPaid = try await rpcError { _ = try await h.orders.cancelOrder(Self.cancel(paid.id), options: bearer(token)) }
            #expect(cancelPaid.code == .failedPrecondition && cancelPaid.message.contains("is PAID: only a PENDING order can be cancelled"))
            let payAgain = try await rpcError { _ = try await h.markPaid(paid) }
            #expect(payAgain.code == .failedPrecondition && payAgain.message.contains("another payment"))
            // PENDING: cannot be refunded.
            let pending = try await h.placeOrder(token)
            let refundPending = try await rpcError { _ = try await h.refund(pending, payment: UUID().uuidString) }
            #expect(refundPending.code == .failedPrecondition && refundPending.message.contains("is PENDING: only a PAID order can be refunded"))
            // CANCELLED: cannot be paid or refunded.
            let cancelled = try await h.orders.cancelOrder(Self.cancel(pending.id), options: bearer(token))
            let payCancelled = try await rpcError { _ = try await h.markPaid(cancelled) }
            #expect(payCancelled.code == .failedPrecondition && payCancelled.message.contains("is CANCELLED: only a PENDING order can be paid"))
            // FULFILLED (no rpc makes it yet): cannot be cancelled or refunded.
            let fulfilledPayment = UUID().uuidString.lowercased()
            let fulfilled = try await h.markPaid(try await h.placeOrder(token), payment: fulfilledPayment)
            _ = try await h.pool.execute("UPDATE orders SET status = 'fulfilled' WHERE order_id = \(UUID(uuidString: fulfilled.id)!)")
            let cancelFulfilled = try await rpcError { _ = try await h.orders.cancelOrder(Self.cancel(fulfilled.id), options: bearer(token)) }
            #expect(cancelFulfilled.message.contains("is FULFILLED"))
            let refundFulfilled = try await rpcError { _ = try await h.refund(fulfilled, payment: fulfilledPayment) }
            #expect(refundFulfilled.code == .failedPrecondition && refundFulfilled.message.contains("is FULFILLED: only a PAID order can be refunded"))
            // REFUNDED: final.
            let refundedPayment = UUID().uuidString.lowercased()
            let refunded = try await h.refund(try await h.markPaid(try await h.placeOrder(token), payment: refundedPayment), payment: refundedPayment)
            #expect(refunded.status == .refunded)
            let cancelRefunded = try await rpcError { _ = try await h.orders.cancelOrder(Self.cancel(refunded.id), options: bearer(token)) }
            #expect(cancelRefunded.message.contains("is REFUNDED"))
            // Nothing moved: each order's history holds only its legal moves.
            #expect(try await h.count("order_status_history", order: paid.id) == 2)
            #expect(try await h.count("order_status_history", order: cancelled.id) == 2)
            #expect(try await h.count("order_status_history", order: refunded.id) == 3)
        }
    }

    @Test("MarkOrderPaid replayed 10 times at once: one transition, one history row, the same answer each time")
    func markPaidIsIdempotent() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let payment = UUID().uuidString.lowercased()
            let answers = try await withThrowingTaskGroup(of: Order.self) { group in
                for _ in 0..<10 { group.addTask { try await h.markPaid(order, payment: payment) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 10)
            #expect(answers.allSatisfy { $0 == answers[0] } && answers[0].status == .paid)
            #expect(try await h.count("order_status_history", order: order.id) == 2)
            // A replay with another amount is not the same request.
            let other = try await rpcError { _ = try await h.markPaid(order, payment: payment, amount: order.total + 1) }
            #expect(other.code == .failedPrecondition)
        }
    }

    @Test("an amount or currency other than the order's total is FAILED_PRECONDITION, and the order stays PENDING")
    func amountMustMatch() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let amount = try await rpcError { _ = try await h.markPaid(order, amount: 4247) }
            #expect(amount.code == .failedPrecondition && amount.message.contains("4247 EUR is not the total"))
            let currency = try await rpcError { _ = try await h.markPaid(order, currency: "USD") }
            #expect(currency.code == .failedPrecondition)
            #expect(try await h.orders.getOrder(Self.get(order.id), options: bearer(token)).status == .pending)
        }
    }

    @Test("two changes of one order at once cannot both win: cancel against pay, 20 times")
    func racingChanges() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            for _ in 0..<20 {
                let order = try await h.placeOrder(token)
                async let cancel: Result<Order, RPCError> = Self.result { try await h.orders.cancelOrder(Self.cancel(order.id), options: bearer(token)) }
                async let pay: Result<Order, RPCError> = Self.result { try await h.markPaid(order) }
                let (cancelled, paid) = await (cancel, pay)
                let winners = [cancelled, paid].filter { if case .success = $0 { true } else { false } }
                #expect(winners.count == 1)
                for case .failure(let error) in [cancelled, paid] { #expect(error.code == .failedPrecondition) }
                #expect(try await h.count("order_status_history", order: order.id) == 2)
            }
        }
    }

    @Test("MarkOrderRefunded: PAID → REFUNDED by the paying payment only, idempotent")
    func refund() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let payment = UUID().uuidString.lowercased()
            let paid = try await h.markPaid(try await h.placeOrder(token), payment: payment)
            let wrong = try await rpcError { _ = try await h.refund(paid, payment: UUID().uuidString) }
            #expect(wrong.code == .failedPrecondition && wrong.message.contains("another payment"))
            let refunded = try await h.refund(paid, payment: payment)
            #expect(refunded.status == .refunded)
            #expect(try await h.refund(paid, payment: payment) == refunded)
            #expect(try await h.count("order_status_history", order: paid.id) == 3)
            // A late replay of the payment that paid it still answers (the order as it is now).
            #expect(try await h.markPaid(paid, payment: payment).status == .refunded)
        }
    }

    @Test("internal rpcs need a service credential: a user's token is PERMISSION_DENIED, none is UNAUTHENTICATED")
    func internalRPCs() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let user = try await rpcError { _ = try await h.markPaid(order, options: bearer(token)) }
            #expect(user.code == .permissionDenied && user.message.contains("service credential"))
            let anonymous = try await rpcError { _ = try await h.markPaid(order, options: .defaults) }
            #expect(anonymous.code == .unauthenticated)
            var refund = MarkOrderRefundedRequest()
            refund.orderId = order.id
            refund.paymentId = UUID().uuidString
            #expect(try await rpcError { _ = try await h.orders.markOrderRefunded(refund, options: bearer(token)) }.code == .permissionDenied)
            #expect(try await h.count("order_status_history", order: order.id) == 1)
        }
    }

    // MARK: Helpers

    static func get(_ id: String) -> GetOrderRequest {
        var request = GetOrderRequest()
        request.orderId = id
        return request
    }

    static func cancel(_ id: String) -> CancelOrderRequest {
        var request = CancelOrderRequest()
        request.orderId = id
        return request
    }

    static func result(_ body: () async throws -> Order) async -> Result<Order, RPCError> {
        do {
            return .success(try await body())
        } catch let error as RPCError {
            return .failure(error)
        } catch {
            return .failure(RPCError(.unknown, "\(error)"))
        }
    }
}

extension OrdersTestHarness {
    func refund(_ order: Order, payment: String) async throws -> Order {
        var request = MarkOrderRefundedRequest()
        request.orderId = order.id
        request.paymentId = payment.lowercased()
        return try await orders.markOrderRefunded(request, options: payments())
    }
}
