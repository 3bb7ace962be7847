import Foundation
import SoukContracts
import SoukPayments
import SoukPostgres
import SoukRPC
import SoukRPCCore
import SoukTestSupport
import Testing

@Suite("Idempotency keys, as Stripe defines them, atomic in PostgreSQL")
struct IdempotencyTests {
    typealias H = PaymentsTestHarness

    @Test("the same key with the same request replays the first answer and charges once")
    func replay() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let first = try await h.pay(order, token: token, key: "k-1")
            let second = try await h.pay(order, token: token, key: "k-1")
            #expect(second == first)
            #expect(h.network.charges.count == 1)
            #expect(try await h.count("SELECT count(*) FROM payments") == 1)
        }
    }

    @Test("a replay compares parsed fields: the same request encoded otherwise (unknown fields, field order) is the same")
    func parsedFields() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let first = try await h.pay(order, token: token, key: "k-parsed")
            // The same fields with the order id in upper case and an unknown field added.
            var request = H.request(order)
            request.orderId = order.id.uppercased()
            var bytes = try request.serializedBytes()
            bytes += [0xF8, 0x06, 0x01]  // field 111, varint 1: unknown to the contract
            let same = try CreatePaymentRequest(serializedBytes: bytes)
            #expect(try await h.payments.createPayment(same, options: H.options(token, key: "k-parsed")) == first)
        }
    }

    @Test("the same key with a different request is ALREADY_EXISTS, whichever field differs", arguments: [
        "amount", "currency", "number", "expiry", "order",
    ])
    func differentRequest(field: String) async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let other = try await h.placeOrder(token)
            _ = try await h.pay(order, token: token, key: "k-2")
            var request = H.request(order)
            switch field {
            case "amount": request.amount += 1
            case "currency": request.currency = "USD"
            case "number": request.card?.number = "5555555555554444"
            case "expiry": request.card?.expYear = 2032
            default: request = H.request(other)
            }
            let error = try await rpcError { _ = try await h.payments.createPayment(request, options: H.options(token, key: "k-2")) }
            #expect(error.code == .alreadyExists && error.message.contains("different request"))
            #expect(h.network.charges.count == 1)
        }
    }

    @Test("keys are scoped to the caller: two users may use the same key")
    func scopedToCaller() async throws {
        try await H.with { h in
            let (_, ada) = try await h.signUp("ada")
            let (_, bob) = try await h.signUp("bob")
            let adas = try await h.pay(try await h.placeOrder(ada), token: ada, key: "shared")
            let bobs = try await h.pay(try await h.placeOrder(bob), token: bob, key: "shared")
            #expect(adas.id != bobs.id && adas.status == .succeeded && bobs.status == .succeeded)
        }
    }

    @Test("a failure after validation is stored and replayed: a declined card, a cancelled order")
    func storedFailures() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let declined = try await h.pay(order, token: token, key: "declined", number: "4000000000000002")
            #expect(try await h.pay(order, token: token, key: "declined", number: "4000000000000002") == declined)

            let cancelled = try await h.placeOrder(token)
            var cancel = CancelOrderRequest()
            cancel.orderId = cancelled.id
            _ = try await h.orders.cancelOrder(cancel, options: bearer(token))
            let first = try await rpcError { _ = try await h.pay(cancelled, token: token, key: "cancelled") }
            let stored = try await h.pool.query("SELECT state, answer_code FROM idempotency_keys WHERE key = 'cancelled'")
            #expect(try stored[0].decode(0, as: String.self) == "done" && stored[0].decode(1, as: Int16.self) == 9)
            let again = try await rpcError { _ = try await h.pay(cancelled, token: token, key: "cancelled") }
            #expect(first.code == .failedPrecondition && again == first)
        }
    }

    @Test("50 concurrent calls with one key: one charge, one payment, one outbox row, and all get the same answer")
    func concurrentSameKey() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            h.network.slowDown(.milliseconds(100))  // the first is still running when the others arrive
            let answers = try await withThrowingTaskGroup(of: Payment.self) { group in
                for _ in 0..<50 { group.addTask { try await h.pay(order, token: token, key: "once") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 50 && Set(answers.map(\.id)).count == 1)
            #expect(answers.allSatisfy { $0 == answers[0] && $0.status == .succeeded })
            #expect(h.network.charges.count == 1)
            #expect(try await h.count("SELECT count(*) FROM payments") == 1)
            #expect(try await h.count("SELECT count(*) FROM payment_outbox") == 1)
            #expect(try await h.order(order.id, token: token).status == .paid)
        }
    }

    @Test("10 different keys for one order at once: one SUCCEEDED payment, the others FAILED_PRECONDITION, one charge")
    func concurrentKeysOneOrder() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            h.network.slowDown(.milliseconds(50))
            let results = await withTaskGroup(of: Result<Payment, RPCError>.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        do { return .success(try await h.pay(order, token: token, key: "key-\(index)")) }
                        catch let error as RPCError { return .failure(error) }
                        catch { return .failure(RPCError(.unknown, "\(error)")) }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let succeeded = results.compactMap { try? $0.get() }
            let failed = results.compactMap { if case .failure(let error) = $0 { error } else { nil } }
            #expect(succeeded.count == 1 && succeeded.first?.status == .succeeded)
            #expect(failed.count == 9 && failed.allSatisfy { $0.code == .failedPrecondition })
            #expect(h.network.charges.count == 1)
            #expect(try await h.count("SELECT count(*) FROM payments") == 1)
        }
    }

    @Test("a retry differing only in its CVC is the same request: the CVC is not part of the kept fingerprint")
    func cvcLeftOut() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let first = try await h.payments.createPayment(H.request(order, cvc: "123"), options: H.options(token, key: "k-cvc"))
            let again = try await h.payments.createPayment(H.request(order, cvc: "4567"), options: H.options(token, key: "k-cvc"))
            #expect(again == first && h.network.charges.count == 1)
        }
    }

    @Test("a key whose request died while running is taken over, with the same payment id, once its lease has run out")
    func takeover() async throws {
        try await H.with { h in
            let (userID, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let request = H.request(order)
            let paymentID = UUID()
            let fingerprint = PaymentRules.fingerprint(of: request, with: h.fingerprints)
            let (user, orderID) = (UUID(uuidString: userID)!, UUID(uuidString: order.id)!)
            _ = try await h.pool.execute("""
                INSERT INTO idempotency_keys (user_id, key, fingerprint, payment_id, order_id, state, lease_until, lease_token)
                VALUES (\(user), 'orphan', \(fingerprint), \(paymentID), \(orderID), 'running', now() + interval '300 ms', gen_random_uuid())
                """)
            // While its lease runs, the order is held and a duplicate waits (here: until its deadline).
            let busy = try await rpcError { _ = try await h.pay(order, token: token) }
            #expect(busy.code == .failedPrecondition && busy.message.contains("in progress"))
            try await Task.sleep(for: .milliseconds(400))
            let payment = try await h.payments.createPayment(request, options: H.options(token, key: "orphan"))
            #expect(payment.id == paymentID.lowercasedText && payment.status == .succeeded)
            #expect(h.network.charges == [paymentID])
            #expect(try await h.pay(order, token: token, key: "orphan") == payment)
        }
    }

    @Test("a claim of another key abandoned by a dead process no longer holds the order once its lease has run out")
    func abandonedClaim() async throws {
        try await H.with { h in
            let (userID, token) = try await h.signUp()
            let order = try await h.placeOrder(token)
            let (user, orderID) = (UUID(uuidString: userID)!, UUID(uuidString: order.id)!)
            _ = try await h.pool.execute("""
                INSERT INTO idempotency_keys (user_id, key, fingerprint, payment_id, order_id, state, lease_until, lease_token)
                VALUES (\(user), 'dead', '\\x00'::bytea, gen_random_uuid(), \(orderID), 'running', now() - interval '1 second', gen_random_uuid())
                """)
            #expect(try await h.pay(order, token: token, key: "fresh").status == .succeeded)
            #expect(try await h.count("SELECT count(*) FROM idempotency_keys WHERE key = 'dead'") == 0)
        }
    }

    @Test("another user's running claim on an order does not hold it: the owner pays meanwhile")
    func strangersClaim() async throws {
        try await H.with { h in
            let (_, ada) = try await h.signUp("ada")
            let (eveID, eve) = try await h.signUp("eve")
            let order = try await h.placeOrder(ada)
            #expect(try await rpcError { _ = try await h.pay(order, token: eve) }.code == .notFound)
            // A claim of eve's, still running (as while orders is asked), holds nothing of ada's.
            let (stranger, orderID) = (UUID(uuidString: eveID)!, UUID(uuidString: order.id)!)
            _ = try await h.pool.execute("""
                INSERT INTO idempotency_keys (user_id, key, fingerprint, payment_id, order_id, state, lease_until, lease_token)
                VALUES (\(stranger), 'eve', '\\x00'::bytea, gen_random_uuid(), \(orderID), 'running', now() + interval '1 minute', gen_random_uuid())
                """)
            #expect(try await h.pay(order, token: ada).status == .succeeded)
        }
    }

    @Test("keys are kept 24 hours, then purged, and the key can be used again")
    func purge() async throws {
        try await H.with { h in
            let (_, token) = try await h.signUp()
            _ = try await h.pay(try await h.placeOrder(token), token: token, key: "old")
            _ = try await h.pay(try await h.placeOrder(token), token: token, key: "recent")
            _ = try await h.pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '23 hours 59 minutes' WHERE key = 'recent'")
            _ = try await h.pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute' WHERE key = 'old'")
            try await h.relay.purge()
            let keys = try await h.pool.query("SELECT key FROM idempotency_keys").map { try $0.decode(0, as: String.self) }
            #expect(keys == ["recent"])
            #expect(try await h.pay(try await h.placeOrder(token), token: token, key: "old").status == .succeeded)
        }
    }
}
