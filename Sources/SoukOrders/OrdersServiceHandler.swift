import Foundation
import Logging
import SoukAuth
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukRPCCore
import SoukServiceKit
import SoukWire

/// Serves `souk.orders.v1.OrdersService`: a user's orders and their status machine, and the
/// internal moves the payments service makes (paid, refunded).
public struct OrdersServiceHandler: OrdersService.Handler {
    /// What the service needs besides its database.
    public struct Configuration: Sendable {
        /// Checks the access tokens of users and the service credentials of internal calls.
        public var callers: CallerCheck
        /// The users service, asked whether a user may order.
        public var users: UsersService.Client
        /// This service's credentials for its calls to users.
        public var credentials: OutgoingCredentials
        /// Seals page tokens.
        public var pageTokens: MessageAuthenticator
        /// The longest a users check may take; a caller's earlier deadline wins.
        public var usersTimeout: Duration = .seconds(5)

        public init(callers: CallerCheck, users: UsersService.Client, credentials: OutgoingCredentials,
                    pageTokens: MessageAuthenticator) {
            self.callers = callers
            self.users = users
            self.credentials = credentials
            self.pageTokens = pageTokens
        }
    }

    private let repository: OrderRepository
    private let configuration: Configuration
    private let logger: Logger

    public init(database: PostgresPool, configuration: Configuration, logger: Logger = Logger(label: "souk.orders")) {
        self.repository = OrderRepository(database: database)
        self.configuration = configuration
        self.logger = logger
    }

    /// The migrations of the orders database, shipped with this module.
    public static func migrations() throws -> [Migration] {
        try Migration.load(bundle: .module)
    }

    // MARK: Public rpcs

    public func createOrder(_ request: CreateOrderRequest, context: ServerContext) async throws -> Order {
        let user = try configuration.callers.user(context)
        let (violations, total) = OrderRules.check(request)
        try violations.throwIfAny()
        try await checkMayOrder(user)
        return try await usingDatabase(logger: logger) {
            try await repository.insert(id: UUID(), userID: user, currency: request.currency, items: request.items,
                                        total: total ?? 0).message
        }
    }

    public func getOrder(_ request: GetOrderRequest, context: ServerContext) async throws -> Order {
        let user = try configuration.callers.user(context)
        let id = try FieldViolations.requireID(request.orderId, field: "order_id", what: "the id of an order")
        return try await usingDatabase(logger: logger) {
            guard let order = try await repository.find(id: id, userID: user) else { throw Self.noOrder(request.orderId) }
            return order.message
        }
    }

    public func listOrders(_ request: ListOrdersRequest, context: ServerContext) async throws -> ListOrdersResponse {
        let user = try configuration.callers.user(context)
        var violations = FieldViolations()
        let page = violations.page(size: request.pageSize, token: request.pageToken, scope: user,
                                   authenticator: configuration.pageTokens)
        try violations.throwIfAny()
        guard let page else { throw violations.error }
        return try await usingDatabase(logger: logger) {
            let found = try await repository.list(userID: user, after: page.after, limit: page.size + 1)
            var response = ListOrdersResponse()
            response.orders = found.prefix(page.size).map(\.message)
            if found.count > page.size, let last = found.prefix(page.size).last {
                response.nextPageToken = PageToken(scope: user, createdAt: last.createdAt, id: last.id)
                    .sealed(with: configuration.pageTokens)
            }
            return response
        }
    }

    public func cancelOrder(_ request: CancelOrderRequest, context: ServerContext) async throws -> Order {
        let user = try configuration.callers.user(context)
        let id = try FieldViolations.requireID(request.orderId, field: "order_id", what: "the id of an order")
        return try await usingDatabase(logger: logger) {
            let change = StatusChange(orderID: id, from: .pending, to: .cancelled, reason: "cancelled by its owner", userID: user)
            if let cancelled = try await repository.apply(change) { return cancelled.message }
            guard let order = try await repository.find(id: id, userID: user) else { throw Self.noOrder(request.orderId) }
            if order.status == .cancelled { return order.message }  // cancelling twice changes nothing
            throw Self.illegal(order, "cancelled", needs: .pending)
        }
    }

    // MARK: Internal rpcs

    public func markOrderPaid(_ request: MarkOrderPaidRequest, context: ServerContext) async throws -> Order {
        let caller = try configuration.callers.service(context)
        var violations = FieldViolations()
        let orderID = violations.id(request.orderId, field: "order_id", what: "the id of an order")
        let paymentID = violations.id(request.paymentId, field: "payment_id", what: "the id of a payment")
        if request.amount < 0 { violations.add("amount", "must not be negative, found \(request.amount)") }
        violations.currency(request.currency)
        try violations.throwIfAny()
        guard let orderID, let paymentID else { throw violations.error }
        return try await usingDatabase(logger: logger) {
            let change = StatusChange(orderID: orderID, from: .pending, to: .paid,
                                      reason: "paid by payment \(request.paymentId) (\(caller))", paymentID: paymentID,
                                      total: (request.amount, request.currency))
            // A race lost to a change that then let go of the row (none can today) is tried again.
            for _ in 0..<3 {
                if let paid = try await repository.apply(change) { return paid.message }
                guard let order = try await repository.find(id: orderID) else { throw Self.noOrder(request.orderId) }
                let matches = order.total == request.amount && order.currency == request.currency
                if order.paidByPaymentID == paymentID {
                    // The same payment again (a retry): the same answer, and no second history row.
                    guard matches else { throw Self.wrongAmount(order, request.amount, request.currency) }
                    return order.message
                }
                if order.paidByPaymentID != nil {
                    throw RPCError(.failedPrecondition, "order \(request.orderId) is \(Self.name(order.status)), paid by another payment")
                }
                guard order.status == .pending else { throw Self.illegal(order, "paid", needs: .pending) }
                guard matches else { throw Self.wrongAmount(order, request.amount, request.currency) }
            }
            throw RPCError(.aborted, "order \(request.orderId) changed while it was being marked paid; retry")
        }
    }

    public func markOrderRefunded(_ request: MarkOrderRefundedRequest, context: ServerContext) async throws -> Order {
        let caller = try configuration.callers.service(context)
        var violations = FieldViolations()
        let orderID = violations.id(request.orderId, field: "order_id", what: "the id of an order")
        let paymentID = violations.id(request.paymentId, field: "payment_id", what: "the id of a payment")
        try violations.throwIfAny()
        guard let orderID, let paymentID else { throw violations.error }
        return try await usingDatabase(logger: logger) {
            let change = StatusChange(orderID: orderID, from: .paid, to: .refunded,
                                      reason: "refunded payment \(request.paymentId) (\(caller))", paymentID: paymentID,
                                      paidBy: paymentID)
            if let refunded = try await repository.apply(change) { return refunded.message }
            guard let order = try await repository.find(id: orderID) else { throw Self.noOrder(request.orderId) }
            if order.paidByPaymentID != nil, order.paidByPaymentID != paymentID {
                throw RPCError(.failedPrecondition, "order \(request.orderId) was paid by another payment, not \(request.paymentId)")
            }
            if order.status == .refunded { return order.message }  // the same refund again
            throw Self.illegal(order, "refunded", needs: .paid)
        }
    }

    // MARK: Helpers

    /// Asks the users service whether `user` exists and is active, with this service's own
    /// credential; the caller's deadline, when earlier, bounds the call.
    private func checkMayOrder(_ user: UUID) async throws(RPCError) {
        var request = GetUserRequest()
        request.userId = user.lowercasedText
        let options = CallOptions(timeout: configuration.usersTimeout,
                                  metadata: configuration.credentials.metadata(for: "souk-users"))
        let answer: GetUserResponse
        do {
            answer = try await configuration.users.getUser(request, options: options)
        } catch let error as RPCError {
            switch error.code {
            case .notFound:
                throw RPCError(.failedPrecondition, "the account of this access token no longer exists, so it cannot order")
            case .unavailable:
                throw RPCError(.unavailable, "the users service is unavailable, so the order was not placed; retry later")
            case .deadlineExceeded:
                throw RPCError(.deadlineExceeded, "the users service did not answer in time, so the order was not placed")
            case .cancelled:
                throw error
            default:
                logger.error("the users service refused the account check", metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
                throw RPCError(.internal, "the orders service could not check the account, so the order was not placed")
            }
        } catch {
            throw RPCError(.unavailable, "the users service could not be asked, so the order was not placed; retry later")
        }
        guard answer.status == .active else {
            throw RPCError(.failedPrecondition, "this account is disabled, so it cannot order")
        }
    }

    /// The status as the contract names it: PENDING, PAID, ...
    static func name(_ status: Order.Status) -> String { status.protoName ?? "\(status.rawValue)" }

    static func noOrder(_ id: String) -> RPCError {
        RPCError(.notFound, "no order \(id)")
    }

    static func illegal(_ order: OrderRecord, _ verb: String, needs: Order.Status) -> RPCError {
        RPCError(.failedPrecondition,
                 "order \(order.id.lowercasedText) is \(name(order.status)): only a \(name(needs)) order can be \(verb)")
    }

    static func wrongAmount(_ order: OrderRecord, _ amount: Int64, _ currency: String) -> RPCError {
        RPCError(.failedPrecondition,
                 "the amount \(amount) \(currency) is not the total of order \(order.id.lowercasedText), \(order.total) \(order.currency)")
    }
}
