import Foundation
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukServiceKit

/// A payment as the payments database stores it.
struct PaymentRecord: Sendable {
    var id: UUID
    var orderID: UUID
    var userID: UUID
    var status: Payment.Status
    var amount: Int64
    var currency: String
    var cardBrand: String
    var cardLast4: String
    var declineReason: String
    var createdAt: Google_Protobuf_Timestamp

    /// The contract's view.
    var message: Payment {
        var payment = Payment()
        payment.id = id.lowercasedText
        payment.orderId = orderID.lowercasedText
        payment.userId = userID.lowercasedText
        payment.status = status
        payment.amount = amount
        payment.currency = currency
        payment.cardBrand = cardBrand
        payment.cardLast4 = cardLast4
        payment.declineReason = declineReason
        payment.createdAt = createdAt
        return payment
    }
}

extension Payment.Status {
    /// The value of the `status` column.
    var column: String {
        switch self {
        case .succeeded: "succeeded"
        case .declined: "declined"
        case .refunded: "refunded"
        case .unspecified, .unrecognized: "unspecified"
        }
    }

    init(column: String) {
        switch column {
        case "succeeded": self = .succeeded
        case "declined": self = .declined
        case "refunded": self = .refunded
        default: self = .unspecified
        }
    }
}

/// An idempotency key's row: who holds it, and its stored answer once done.
struct IdempotencyKeyRecord: Sendable {
    var fingerprint: [UInt8]
    var paymentID: UUID
    var running: Bool
    /// Running, and its holder's lease has run out: a duplicate may take it over.
    var leaseExpired: Bool
    var answerCode: Int16?
    var answer: [UInt8]?
    var answerMessage: String?
}

/// What claiming an idempotency key found.
enum KeyClaim: Sendable {
    /// The key was free: this request runs the payment.
    case claimed
    /// The key was taken, by this request or another one.
    case taken(IdempotencyKeyRecord)
    /// The key was free, but another payment of the same order is running.
    case orderBusy
    /// Something changed meanwhile (the key was let go, an abandoned claim of the order was
    /// cleared): claim again.
    case retry
}

/// A message for the orders service, waiting in the outbox.
struct OutboxEntry: Sendable {
    enum Kind: String, Sendable {
        case markPaid = "mark_paid"
        case markRefunded = "mark_refunded"
    }

    var id: Int64
    var kind: Kind
    var paymentID: UUID
    var orderID: UUID
    var amount: Int64
    var currency: String
    var attempts: Int32
    /// Proves this process's lease of the row.
    var leaseToken: UUID
}

/// The SQL of the payments service; nothing else in the service writes SQL.
struct PaymentRepository: Sendable {
    let database: PostgresPool

    // MARK: Idempotency keys

    /// Claims `key` of `userID` for a payment `paymentID` of order `orderID`, leased for
    /// `lease` seconds under `token`. One statement: two requests with one key, or two keys of
    /// one order, cannot both claim.
    func claim(userID: UUID, key: String, fingerprint: [UInt8], paymentID: UUID, orderID: UUID,
               lease: Double, token: UUID) async throws -> KeyClaim {
        let inserted = try await database.query("""
            INSERT INTO idempotency_keys (user_id, key, fingerprint, payment_id, order_id, state, lease_until, lease_token)
            VALUES (\(userID), \(key), \(fingerprint), \(paymentID), \(orderID), 'running',
                    now() + \(lease) * interval '1 second', \(token))
            ON CONFLICT DO NOTHING
            RETURNING payment_id
            """)
        if !inserted.isEmpty { return .claimed }
        // A conflict on the key, or on the order's running payment (then no row has the key).
        if let existing = try await keyRecord(userID: userID, key: key) { return .taken(existing) }
        // A running claim of the order whose lease ran out was abandoned (its process died):
        // it no longer holds the order. Both parts see the rows as they were before the
        // statement: a stale claim cleared means "retry", a live one means busy.
        let rows = try await database.query("""
            WITH stale AS (
                DELETE FROM idempotency_keys
                WHERE user_id = \(userID) AND order_id = \(orderID) AND state = 'running' AND lease_until < now()
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM stale) AS cleared,
                   EXISTS (SELECT 1 FROM idempotency_keys
                           WHERE user_id = \(userID) AND order_id = \(orderID) AND state = 'running') AS busy
            """)
        let (cleared, busy) = (try rows[0].decode("cleared", as: Int64.self), try rows[0].decode("busy", as: Bool.self))
        return cleared == 0 && busy ? .orderBusy : .retry
    }

    func keyRecord(userID: UUID, key: String) async throws -> IdempotencyKeyRecord? {
        let rows = try await database.read("""
            SELECT fingerprint, payment_id, state = 'running' AS running, lease_until < now() AS lease_expired,
                   answer_code, answer, answer_message
            FROM idempotency_keys WHERE user_id = \(userID) AND key = \(key)
            """)
        return try rows.first.map(Self.keyRecord)
    }

    /// A key's row, as `keyRecord` and `takeOver` select it.
    private static func keyRecord(_ row: PostgresRow) throws -> IdempotencyKeyRecord {
        IdempotencyKeyRecord(
            fingerprint: try row.decode("fingerprint"), paymentID: try row.decode("payment_id"),
            running: try row.decode("running"), leaseExpired: try row.decode("lease_expired", as: Bool?.self) ?? false,
            answerCode: try row.decode("answer_code"), answer: try row.decode("answer"),
            answerMessage: try row.decode("answer_message"))
    }

    /// Takes over a running key whose holder's lease ran out (its process died, or it is
    /// stuck) under a new `token`: the old holder's later statements match nothing. The key's
    /// record when this request now holds it.
    func takeOver(userID: UUID, key: String, lease: Double, token: UUID) async throws -> IdempotencyKeyRecord? {
        let rows = try await database.query("""
            UPDATE idempotency_keys SET lease_until = now() + \(lease) * interval '1 second', lease_token = \(token)
            WHERE user_id = \(userID) AND key = \(key) AND state = 'running' AND lease_until < now()
            RETURNING fingerprint, payment_id, true AS running, false AS lease_expired, answer_code, answer, answer_message
            """)
        return try rows.first.map(Self.keyRecord)
    }

    /// Lets go of a running key after a failure worth retrying, so that the same key starts afresh.
    func release(userID: UUID, key: String, token: UUID) async throws {
        _ = try await database.execute("""
            DELETE FROM idempotency_keys
            WHERE user_id = \(userID) AND key = \(key) AND lease_token = \(token) AND state = 'running'
            """)
    }

    /// Stores a failure as the key's answer, replayed from now on.
    func storeFailure(userID: UUID, key: String, token: UUID, code: Int16, message: String) async throws {
        _ = try await database.execute("""
            UPDATE idempotency_keys
            SET state = 'done', lease_until = NULL, answer_code = \(code), answer = NULL, answer_message = \(message)
            WHERE user_id = \(userID) AND key = \(key) AND lease_token = \(token) AND state = 'running'
            """)
    }

    /// Makes the payment recorded with the key its answer, replayed from now on.
    func finish(userID: UUID, key: String, token: UUID) async throws {
        _ = try await database.execute("""
            UPDATE idempotency_keys SET state = 'done', lease_until = NULL, answer_code = 0
            WHERE user_id = \(userID) AND key = \(key) AND lease_token = \(token) AND state = 'running' AND answer IS NOT NULL
            """)
    }

    /// Keys created more than `retention` seconds ago, done or abandoned, and outbox rows
    /// settled as long ago, are deleted; how many keys.
    func purge(olderThan retention: Double) async throws -> Int {
        _ = try await database.execute("""
            DELETE FROM payment_outbox WHERE settled_at < now() - \(retention) * interval '1 second'
            """)
        return try await database.execute("""
            DELETE FROM idempotency_keys WHERE created_at < now() - \(retention) * interval '1 second'
            """)
    }

    // MARK: Payments

    /// The succeeded (or since refunded) payment of `orderID`, if one was made.
    func charged(orderID: UUID) async throws -> PaymentRecord? {
        let rows = try await database.read("""
            SELECT * FROM payments WHERE order_id = \(orderID) AND status IN ('succeeded', 'refunded')
            """)
        return try rows.first.map(Self.record)
    }

    /// Records `payment` with its answer on `key` (still running: ``finish(userID:key:token:)``
    /// or a failure ends it), in one statement that writes nothing unless `token` still holds
    /// the key; for a succeeded payment also the outbox row telling orders, leased to this
    /// process for `deliveryLease` seconds so that it delivers it at once. Nil when the key
    /// was taken over; else the outbox entry, if one was written.
    func record(_ payment: PaymentRecord, key: String, token: UUID, answer: [UInt8],
                deliveryLease: Double) async throws -> (held: Bool, entry: OutboxEntry?) {
        let succeeded = payment.status == .succeeded
        let outboxToken = UUID()
        let rows = try await database.query("""
            WITH answered AS (
                UPDATE idempotency_keys SET answer = \(answer)
                WHERE user_id = \(payment.userID) AND key = \(key) AND lease_token = \(token) AND state = 'running'
                RETURNING payment_id
            ), payment AS (
                INSERT INTO payments (payment_id, order_id, user_id, status, amount, currency, card_brand, card_last4,
                                      decline_reason, created_at)
                SELECT payment_id, \(payment.orderID), \(payment.userID), \(payment.status.column), \(payment.amount),
                       \(payment.currency), \(payment.cardBrand), \(payment.cardLast4), \(payment.declineReason),
                       \(payment.createdAt)
                FROM answered
                RETURNING payment_id
            ), outbox AS (
                INSERT INTO payment_outbox (kind, payment_id, order_id, amount, currency, lease_until, lease_token, attempts)
                SELECT 'mark_paid', payment_id, \(payment.orderID), \(payment.amount), \(payment.currency),
                       now() + \(deliveryLease) * interval '1 second', \(outboxToken), 1
                FROM payment WHERE \(succeeded)
                RETURNING outbox_id
            )
            SELECT (SELECT count(*) FROM answered) AS held, (SELECT outbox_id FROM outbox) AS outbox_id
            """)
        let held = try rows[0].decode("held", as: Int64.self) == 1
        guard let outboxID = try rows[0].decode("outbox_id", as: Int64?.self) else { return (held, nil) }
        return (held, OutboxEntry(id: outboxID, kind: .markPaid, paymentID: payment.id, orderID: payment.orderID,
                                  amount: payment.amount, currency: payment.currency, attempts: 1, leaseToken: outboxToken))
    }

    /// The payment `id` of `userID`.
    func find(id: UUID, userID: UUID) async throws -> PaymentRecord? {
        let rows = try await database.read("SELECT * FROM payments WHERE payment_id = \(id) AND user_id = \(userID)")
        return try rows.first.map(Self.record)
    }

    /// Up to `limit` of `userID`'s payments of `orderID`, oldest first, after `after` when given.
    func list(orderID: UUID, userID: UUID, after: PageToken?, limit: Int) async throws -> [PaymentRecord] {
        let count = Int32(limit)
        let rows: PostgresRows
        if let after {
            rows = try await database.read("""
                SELECT * FROM payments
                WHERE order_id = \(orderID) AND user_id = \(userID) AND (created_at, payment_id) > (\(after.createdAt), \(after.id))
                ORDER BY created_at, payment_id LIMIT \(count)
                """)
        } else {
            rows = try await database.read("""
                SELECT * FROM payments WHERE order_id = \(orderID) AND user_id = \(userID)
                ORDER BY created_at, payment_id LIMIT \(count)
                """)
        }
        return try rows.map(Self.record)
    }

    /// Refunds the payment `id` of `userID`: locks its row, lets `approve` check it and refund
    /// the charge (throwing leaves everything as it was), then marks it refunded and writes the
    /// outbox row, in one transaction. Nil when there is no such payment. The outbox row is
    /// leased to this process unless an earlier message about the order is still undelivered
    /// (they reach orders in order, so the relay takes it then).
    func refund(id: UUID, userID: UUID, deliveryLease: Double,
                approve: (PaymentRecord) async throws -> Void) async throws -> (PaymentRecord, OutboxEntry, leased: Bool)? {
        try await database.transaction { tx in
            let rows = try await tx.query("SELECT * FROM payments WHERE payment_id = \(id) AND user_id = \(userID) FOR UPDATE")
            guard let row = rows.first else { return nil }
            var payment = try Self.record(row)
            try await approve(payment)
            _ = try await tx.execute("""
                UPDATE payments SET status = 'refunded', refunded_at = now() WHERE payment_id = \(id)
                """)
            payment.status = .refunded
            let token = UUID()
            let inserted = try await tx.query("""
                INSERT INTO payment_outbox (kind, payment_id, order_id, amount, currency, lease_until, lease_token, attempts)
                SELECT 'mark_refunded', \(id), \(payment.orderID), \(payment.amount), \(payment.currency), lease,
                       \(token), CASE WHEN lease IS NULL THEN 0 ELSE 1 END
                FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM payment_outbox WHERE order_id = \(payment.orderID) AND settled_at IS NULL)
                                  THEN NULL ELSE now() + \(deliveryLease) * interval '1 second' END AS lease) AS l
                RETURNING outbox_id, lease_until IS NOT NULL AS leased
                """)
            let entry = OutboxEntry(id: try inserted[0].decode("outbox_id"), kind: .markRefunded, paymentID: id,
                                    orderID: payment.orderID, amount: payment.amount, currency: payment.currency, attempts: 1,
                                    leaseToken: token)
            return (payment, entry, try inserted[0].decode("leased", as: Bool.self))
        }
    }

    // MARK: Outbox

    /// Leases up to `limit` due outbox rows to this process for `lease` seconds: rows no other
    /// process holds (SKIP LOCKED: two relays never wait for each other), each only once every
    /// earlier row about its order has settled, so that orders hears of a payment before its refund.
    func leaseDue(limit: Int, lease: Double) async throws -> [OutboxEntry] {
        let rows = try await database.query("""
            UPDATE payment_outbox o
            SET lease_until = now() + \(lease) * interval '1 second', lease_token = gen_random_uuid(),
                attempts = o.attempts + 1
            WHERE o.outbox_id IN (
                SELECT d.outbox_id FROM payment_outbox d
                WHERE d.settled_at IS NULL AND d.next_attempt_at <= now()
                  AND (d.lease_until IS NULL OR d.lease_until < now())
                  AND NOT EXISTS (SELECT 1 FROM payment_outbox e
                                  WHERE e.order_id = d.order_id AND e.outbox_id < d.outbox_id AND e.settled_at IS NULL)
                ORDER BY d.outbox_id
                LIMIT \(Int32(limit))
                FOR UPDATE SKIP LOCKED)
              AND o.settled_at IS NULL
            RETURNING o.outbox_id, o.kind, o.payment_id, o.order_id, o.amount, o.currency, o.attempts, o.lease_token
            """)
        return try rows.map { row in
            OutboxEntry(id: try row.decode("outbox_id"), kind: OutboxEntry.Kind(rawValue: try row.decode("kind")) ?? .markPaid,
                        paymentID: try row.decode("payment_id"), orderID: try row.decode("order_id"),
                        amount: try row.decode("amount"), currency: try row.decode("currency"),
                        attempts: try row.decode("attempts"), leaseToken: try row.decode("lease_token"))
        }.sorted { $0.id < $1.id }
    }

    /// Seconds until the next unsettled row falls due (nil: none waits): the rows ``leaseDue``
    /// could take then, not those queued behind an earlier row of their order.
    func secondsUntilNextDue() async throws -> Double? {
        let rows = try await database.read("""
            SELECT extract(epoch FROM min(greatest(d.next_attempt_at, coalesce(d.lease_until, d.next_attempt_at))) - now())::float8 AS wait
            FROM payment_outbox d
            WHERE d.settled_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM payment_outbox e
                              WHERE e.order_id = d.order_id AND e.outbox_id < d.outbox_id AND e.settled_at IS NULL)
            """)
        return try rows.first?.decode("wait", as: Double?.self)
    }

    /// Marks an entry delivered (or refused for good, with `outcome` saying why).
    func settle(_ entry: OutboxEntry, outcome: String) async throws {
        _ = try await database.execute("""
            UPDATE payment_outbox SET settled_at = now(), outcome = \(outcome), lease_until = NULL
            WHERE outbox_id = \(entry.id) AND lease_token = \(entry.leaseToken) AND settled_at IS NULL
            """)
    }

    /// Gives an entry back for another attempt in `delay` seconds.
    func retryLater(_ entry: OutboxEntry, delay: Double, error: String) async throws {
        _ = try await database.execute("""
            UPDATE payment_outbox
            SET next_attempt_at = now() + \(delay) * interval '1 second', lease_until = NULL, last_error = \(error)
            WHERE outbox_id = \(entry.id) AND lease_token = \(entry.leaseToken) AND settled_at IS NULL
            """)
    }

    /// Orders refused a payment for good (the order was cancelled first): the charge is
    /// refunded through `refund`, unless its owner already did, and the entry settles, in one
    /// transaction. The payment as it now is.
    func compensate(_ entry: OutboxEntry, outcome: String,
                    refund: (PaymentRecord) async throws -> Void) async throws -> PaymentRecord? {
        try await database.transaction { tx in
            let rows = try await tx.query("SELECT * FROM payments WHERE payment_id = \(entry.paymentID) FOR UPDATE")
            guard let row = rows.first else { return nil }
            var payment = try Self.record(row)
            if payment.status == .succeeded {
                try await refund(payment)
                _ = try await tx.execute("""
                    UPDATE payments SET status = 'refunded', refunded_at = now() WHERE payment_id = \(entry.paymentID)
                    """)
                payment.status = .refunded
            }
            _ = try await tx.execute("""
                UPDATE payment_outbox SET settled_at = now(), outcome = \(outcome), lease_until = NULL
                WHERE outbox_id = \(entry.id) AND lease_token = \(entry.leaseToken) AND settled_at IS NULL
                """)
            return payment
        }
    }

    private static func record(_ row: PostgresRow) throws -> PaymentRecord {
        PaymentRecord(
            id: try row.decode("payment_id"), orderID: try row.decode("order_id"), userID: try row.decode("user_id"),
            status: Payment.Status(column: try row.decode("status")), amount: try row.decode("amount"),
            currency: try row.decode("currency"), cardBrand: try row.decode("card_brand"),
            cardLast4: try row.decode("card_last4"), declineReason: try row.decode("decline_reason"),
            createdAt: try row.decode("created_at"))
    }
}
