import Foundation
import Logging
import SoukAuth
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukRPCCore
import SoukServiceKit
import SoukWire

/// Serves `souk.payments.v1.PaymentsService`: card payments for orders, idempotent by key,
/// and their refunds; the orders service hears of both through the outbox (``OutboxRelay``).
public struct PaymentsServiceHandler: PaymentsService.Handler {
    /// What the service needs besides its database.
    public struct Configuration: Sendable {
        /// Checks users' access tokens.
        public var callers: CallerCheck
        /// The orders service, asked about the order before a charge.
        public var orders: OrdersService.Client
        /// Delivers the outbox; told of each new row.
        public var relay: OutboxRelay
        /// Where cards are charged.
        public var processor: any PaymentProcessor
        /// Fingerprints requests for their idempotency keys.
        public var fingerprints: MessageAuthenticator
        /// Seals page tokens.
        public var pageTokens: MessageAuthenticator
        /// The longest an orders check may take; a caller's earlier deadline wins.
        public var ordersTimeout: Duration = .seconds(5)
        /// How long a request owns its idempotency key while it runs; if its process dies, a
        /// retry with the same key takes over after this (with the same payment id, so that
        /// the processor charges once).
        public var keyLease: Duration = .seconds(60)

        public init(callers: CallerCheck, orders: OrdersService.Client, relay: OutboxRelay,
                    processor: any PaymentProcessor, fingerprints: MessageAuthenticator, pageTokens: MessageAuthenticator) {
            self.callers = callers
            self.orders = orders
            self.relay = relay
            self.processor = processor
            self.fingerprints = fingerprints
            self.pageTokens = pageTokens
        }
    }

    private let repository: PaymentRepository
    private let configuration: Configuration
    private let logger: Logger

    public init(database: PostgresPool, configuration: Configuration, logger: Logger = Logger(label: "souk.payments")) {
        self.repository = PaymentRepository(database: database)
        self.configuration = configuration
        self.logger = logger
    }

    /// The migrations of the payments database, shipped with this module.
    public static func migrations() throws -> [Migration] {
        try Migration.load(bundle: .module)
    }

    // MARK: CreatePayment

    public func createPayment(_ request: CreatePaymentRequest, context: ServerContext) async throws -> Payment {
        let user = try configuration.callers.user(context)
        let key = context.metadata[PaymentRules.idempotencyKeyMetadata]
        try PaymentRules.check(request, key: key).throwIfAny()
        guard let key, let orderID = UUID(text: request.orderId), let card = request.card else {
            throw RPCError(.internal, "a checked payment request lost a field")
        }
        let attempt = Attempt(user: user, key: key, orderID: orderID, request: request, card: card,
                              fingerprint: PaymentRules.fingerprint(of: request, with: configuration.fingerprints))
        let deadline = context.deadline
        // Once a key is claimed, its payment runs to its end even if the caller gives up:
        // a request cancelled half-way would leave its key held (and maybe a charge
        // unrecorded) until the lease ran out. The calls it makes still end by the deadline.
        return try await Task {
            try await usingDatabase(logger: logger) {
                switch try await claim(attempt, deadline: deadline) {
                case .replay(let answer):
                    return try answer.get()
                case .run(let paymentID, let token):
                    return try await pay(attempt, paymentID: paymentID, token: token)
                }
            }
        }.value
    }

    /// One CreatePayment request, checked.
    private struct Attempt: Sendable {
        var user: UUID
        var key: String
        var orderID: UUID
        var request: CreatePaymentRequest
        var card: Card
        var fingerprint: [UInt8]
    }

    private enum ClaimOutcome {
        /// This request runs the payment `paymentID`, holding its key with `token`.
        case run(paymentID: UUID, token: UUID)
        /// The key's stored answer.
        case replay(Result<Payment, RPCError>)
    }

    /// Claims the attempt's key; when another request holds it, waits for that one's answer
    /// (or takes the key over if its holder's lease ran out).
    private func claim(_ attempt: Attempt, deadline: ContinuousClock.Instant?) async throws -> ClaimOutcome {
        let lease = configuration.keyLease.seconds
        var pause = Duration.milliseconds(2)
        while true {
            let (paymentID, token) = (UUID(), UUID())
            let claim = try await repository.claim(userID: attempt.user, key: attempt.key, fingerprint: attempt.fingerprint,
                                                   paymentID: paymentID, orderID: attempt.orderID, lease: lease, token: token)
            switch claim {
            case .claimed:
                return .run(paymentID: paymentID, token: token)
            case .retry:
                continue
            case .orderBusy:
                throw RPCError(.failedPrecondition, """
                    another payment of order \(attempt.request.orderId) is in progress; nothing was charged. \
                    Check the order before paying it again
                    """)
            case .taken(let record):
                guard record.fingerprint == attempt.fingerprint else {
                    throw RPCError(.alreadyExists, """
                        this idempotency key was already used for a different request (another order, amount, \
                        currency or card); send a new key for a new payment
                        """)
                }
                if !record.running { return .replay(Self.answer(of: record)) }
                if record.leaseExpired,
                   let taken = try await repository.takeOver(userID: attempt.user, key: attempt.key, lease: lease, token: token) {
                    logger.warning("took over an idempotency key whose request stopped before answering",
                                   metadata: ["payment_id": "\(taken.paymentID.lowercasedText)"])
                    guard taken.answer != nil else { return .run(paymentID: taken.paymentID, token: token) }
                    // Its payment was recorded (and its outbox row will reach orders): that is the answer.
                    try await repository.finish(userID: attempt.user, key: attempt.key, token: token)
                    continue
                }
            }
            // The first request with this key is running: wait for its answer, polling.
            if let deadline, ContinuousClock.now + pause >= deadline {
                throw RPCError(.deadlineExceeded, """
                    the first request with this idempotency key is still running; retry with the same key for its answer
                    """)
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// Runs a claimed payment: checks the order, charges the card, records the payment and
    /// the outbox row, tells orders at once, and stores the answer. A decision (the order
    /// cannot be paid) is stored as the key's answer; a failure worth retrying before
    /// anything was charged lets go of the key, so that a retry with it starts afresh.
    private func pay(_ attempt: Attempt, paymentID: UUID, token: UUID) async throws -> Payment {
        let (user, key) = (attempt.user, attempt.key)
        let outcome: ChargeOutcome
        do {
            try await checkPayable(attempt)
            do {
                outcome = try await configuration.processor.charge(
                    Charge(reference: paymentID, amount: attempt.request.amount, currency: attempt.request.currency,
                           card: attempt.card))
            } catch {
                logger.warning("the card network failed a charge", metadata: ["payment_id": "\(paymentID.lowercasedText)",
                                                                              "reason": "\(error.message)"])
                throw RPCError(.unavailable, """
                    the card network could not process the charge, and nothing was charged; retry with the same idempotency key
                    """)
            }
        } catch let decision as Decision {
            try await repository.storeFailure(userID: user, key: key, token: token,
                                              code: Int16(decision.error.code.rawValue), message: decision.error.message)
            throw decision.error
        } catch {
            try? await repository.release(userID: user, key: key, token: token)
            throw error
        }

        // Charged (or declined): from here on the key stays claimed until the payment is
        // recorded; should that fail, a retry takes the key over after its lease, with the
        // same payment id, and the processor does not charge twice.
        var payment = PaymentRecord(
            id: paymentID, orderID: attempt.orderID, userID: user, status: .succeeded,
            amount: attempt.request.amount, currency: attempt.request.currency,
            cardBrand: PaymentRules.brand(of: attempt.card.number), cardLast4: PaymentRules.last4(of: attempt.card.number),
            declineReason: "", createdAt: Self.now())
        if case .declined(let reason) = outcome {
            payment.status = .declined
            payment.declineReason = reason
        }
        let answer = payment.message
        let recorded = try await repository.record(payment, key: key, token: token, answer: try answer.serializedBytes(),
                                                   deliveryLease: configuration.relay.configuration.lease.seconds)
        guard recorded.held else {
            // Taken over by a retry (this request outlived its lease): that one answers.
            logger.warning("a payment outlived its key's lease; the request that took the key over answers",
                           metadata: ["payment_id": "\(paymentID.lowercasedText)"])
            throw RPCError(.aborted, "this payment took too long and was taken over; retry with the same idempotency key for its answer")
        }
        if let entry = recorded.entry {
            switch await configuration.relay.deliver(entry) {
            case .delivered:
                break
            case .retryLater:
                configuration.relay.wake()
            case .refused(let error, _):
                // The order was cancelled (or changed) after the check: the charge was refunded.
                let refusal = RPCError(.failedPrecondition, """
                    order \(attempt.request.orderId) could not be paid: \(error.message). The charge was refunded \
                    (payment \(paymentID.lowercasedText))
                    """)
                try await repository.storeFailure(userID: user, key: key, token: token,
                                                  code: Int16(refusal.code.rawValue), message: refusal.message)
                throw refusal
            }
        }
        try await repository.finish(userID: user, key: key, token: token)
        return answer
    }

    /// A final answer about the request (the order cannot be paid), stored for its key.
    private struct Decision: Error {
        var error: RPCError
        init(_ code: RPCStatusCode, _ message: String) { error = RPCError(code, message) }
    }

    /// Throws a ``Decision`` unless the order is the caller's, PENDING, not already charged
    /// here, and totals the amount and currency asked for.
    private func checkPayable(_ attempt: Attempt) async throws {
        async let charged = repository.charged(orderID: attempt.orderID)
        let order = try await fetchOrder(attempt.request.orderId)
        let id = attempt.request.orderId
        if let charged = try await charged {
            throw Decision(.failedPrecondition, "order \(id) was already paid, by payment \(charged.id.lowercasedText)")
        }
        guard order.userId == attempt.user.lowercasedText else { throw Decision(.notFound, "no order \(id)") }
        guard order.status == .pending else {
            throw Decision(.failedPrecondition, "order \(id) is \(order.status.protoName ?? "?"): only a PENDING order can be paid")
        }
        guard order.total == attempt.request.amount, order.currency == attempt.request.currency else {
            throw Decision(.failedPrecondition, """
                the amount \(attempt.request.amount) \(attempt.request.currency) is not the total of order \(id), \
                \(order.total) \(order.currency)
                """)
        }
    }

    /// The order, asked of the orders service with the caller's own credential (so that
    /// another user's order is NOT_FOUND there too); the caller's deadline bounds the call.
    private func fetchOrder(_ id: String) async throws -> Order {
        var request = GetOrderRequest()
        request.orderId = id
        let options = CallOptions(timeout: configuration.ordersTimeout, metadata: Self.forwardedCredential())
        do {
            return try await configuration.orders.getOrder(request, options: options)
        } catch let error as RPCError {
            switch error.code {
            case .notFound:
                throw Decision(.notFound, "no order \(id)")
            case .unavailable:
                throw RPCError(.unavailable, "the orders service is unavailable, and nothing was charged; retry with the same idempotency key")
            case .deadlineExceeded:
                throw RPCError(.deadlineExceeded, "the orders service did not answer in time, and nothing was charged; retry with the same idempotency key")
            case .unauthenticated, .cancelled:
                throw error
            default:
                logger.error("the orders service refused an order check", metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
                throw RPCError(.internal, "the payments service could not check the order, and nothing was charged")
            }
        } catch {
            throw RPCError(.unavailable, "the orders service could not be asked, and nothing was charged; retry with the same idempotency key")
        }
    }

    /// The `authorization` metadata of the call being served, for a call made on its behalf.
    private static func forwardedCredential() -> Metadata {
        var metadata = Metadata()
        if let authorization = ServerContext.current?.metadata["authorization"] {
            metadata.append("authorization", authorization)
        }
        return metadata
    }

    private static func answer(of record: IdempotencyKeyRecord) -> Result<Payment, RPCError> {
        guard let code = record.answerCode, code != 0 else {
            guard let bytes = record.answer, let payment = try? Payment(serializedBytes: bytes) else {
                return .failure(RPCError(.internal, "the stored answer of this idempotency key cannot be read"))
            }
            return .success(payment)
        }
        let status = RPCStatusCode(rawValue: Int32(code)) ?? .unknown
        return .failure(RPCError(status, record.answerMessage ?? ""))
    }

    // MARK: Other rpcs

    public func getPayment(_ request: GetPaymentRequest, context: ServerContext) async throws -> Payment {
        let user = try configuration.callers.user(context)
        let id = try FieldViolations.requireID(request.paymentId, field: "payment_id", what: "the id of a payment")
        return try await usingDatabase(logger: logger) {
            guard let payment = try await repository.find(id: id, userID: user) else { throw Self.noPayment(request.paymentId) }
            return payment.message
        }
    }

    public func refundPayment(_ request: RefundPaymentRequest, context: ServerContext) async throws -> Payment {
        let user = try configuration.callers.user(context)
        let id = try FieldViolations.requireID(request.paymentId, field: "payment_id", what: "the id of a payment")
        let processor = configuration.processor
        return try await usingDatabase(logger: logger) {
            let refunded = try await repository.refund(id: id, userID: user,
                                                       deliveryLease: configuration.relay.configuration.lease.seconds) { payment in
                guard payment.status == .succeeded else {
                    throw RPCError(.failedPrecondition, """
                        payment \(request.paymentId) is \(payment.status.protoName ?? "?"): only a SUCCEEDED payment can be \
                        refunded, once
                        """)
                }
                do {
                    try await processor.refund(reference: payment.id, amount: payment.amount, currency: payment.currency)
                } catch {
                    throw RPCError(.unavailable, "the card network could not process the refund, and nothing changed; retry")
                }
            }
            guard let (payment, entry, leased) = refunded else { throw Self.noPayment(request.paymentId) }
            if leased, case .delivered = await configuration.relay.deliver(entry) {} else { configuration.relay.wake() }
            return payment.message
        }
    }

    public func listPaymentsForOrder(_ request: ListPaymentsForOrderRequest,
                                     context: ServerContext) async throws -> ListPaymentsForOrderResponse {
        let user = try configuration.callers.user(context)
        var violations = FieldViolations()
        let orderID = violations.id(request.orderId, field: "order_id", what: "the id of an order")
        let page = orderID.flatMap {
            violations.page(size: request.pageSize, token: request.pageToken, scope: $0, authenticator: configuration.pageTokens)
        }
        try violations.throwIfAny()
        guard let orderID, let page else { throw violations.error }
        return try await usingDatabase(logger: logger) {
            let found = try await repository.list(orderID: orderID, userID: user, after: page.after, limit: page.size + 1)
            if found.isEmpty {
                // No payment of the caller's: is the order theirs at all? Orders knows.
                do {
                    _ = try await fetchOrder(request.orderId)
                } catch let decision as Decision {
                    throw decision.error
                }
            }
            var response = ListPaymentsForOrderResponse()
            response.payments = found.prefix(page.size).map(\.message)
            if found.count > page.size, let last = found.prefix(page.size).last {
                response.nextPageToken = PageToken(scope: orderID, createdAt: last.createdAt, id: last.id)
                    .sealed(with: configuration.pageTokens)
            }
            return response
        }
    }

    /// Now, to the microsecond: what a `timestamptz` keeps, so that the first answer and a
    /// later read of the payment carry the same time.
    static func now() -> Google_Protobuf_Timestamp {
        let microseconds = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded(.down))
        let (seconds, fraction) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        return Google_Protobuf_Timestamp(seconds: seconds, nanos: Int32(fraction) * 1000)
    }

    static func noPayment(_ id: String) -> RPCError {
        RPCError(.notFound, "no payment \(id)")
    }
}
