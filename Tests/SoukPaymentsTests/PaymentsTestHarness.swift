import Foundation
import Logging
import SoukAuth
import SoukContracts
import SoukOrders
import SoukPayments
import SoukPostgres
import SoukRPC
import SoukRPCCore
import SoukServiceKit
import SoukTestSupport
import SoukUsers
import Synchronization
import Testing

/// The payments service with the real orders and users services (``TestSystem``), seen
/// from the payments side: a counting card network, the orders service observed, every log
/// line of payments kept.
struct PaymentsTestHarness: Sendable {
    let system: TestSystem
    /// What the orders service saw of the payments service's calls.
    let ordersSaw: ObservedOrders
    /// The card network, counting what it charged and refunded.
    let network: CountingCardNetwork
    /// Every log line of the payments service.
    let logs: LogLines

    var payments: PaymentsService.Client { PaymentsService.Client(transport: system.paymentsTransport) }
    var orders: OrdersService.Client { OrdersService.Client(transport: system.ordersTransport) }
    var users: UsersService.Client { UsersService.Client(transport: system.usersTransport) }
    /// The payments schema, and the URL that reaches it.
    var pool: PostgresPool { system.paymentsPool }
    var url: String { system.paymentsURL }
    var ordersPool: PostgresPool { system.ordersPool }
    var ordersServer: RestartableServer { system.ordersServer }
    var relay: OutboxRelay { system.relay }
    var serviceKey: SigningKey { system.serviceKey }
    var userKey: SigningKey { system.userKey }
    var fingerprints: MessageAuthenticator { system.fingerprints }

    static var relaySettings: OutboxRelay.Configuration { TestSystem.relaySettings }
    static func ordersClient(_ port: Int) -> RPCClient { TestSystem.ordersClient(port) }

    /// `relaying`: run the in-process outbox relay (off when a test runs `souk payments` itself).
    static func with(relaying: Bool = true, _ body: (PaymentsTestHarness) async throws -> Void) async throws {
        let network = CountingCardNetwork()
        let logs = LogLines()
        var options = TestSystem.Options()
        options.processor = network
        options.relaying = relaying
        options.paymentsLogger = logs.logger(label: "souk.payments")
        options.ordersService = { ObservedOrders($0) }
        do {
            try await TestSystem.with(options) { system in
                try await body(PaymentsTestHarness(system: system, ordersSaw: system.ordersService as! ObservedOrders,
                                                   network: network, logs: logs))
            }
        } catch is TestSchemaMissing {
            Issue.record(Comment(rawValue: TestSchema.missingDatabase))
        }
    }

    /// A new user, signed in: its id and access token.
    func signUp(_ name: String = "ada") async throws -> (id: String, token: String) {
        try await TestUsers.signUp(users, name)
    }

    /// A pending order of 4248 EUR for `token`'s user.
    func placeOrder(_ token: String) async throws -> Order {
        var request = CreateOrderRequest()
        request.currency = "EUR"
        request.items = [("BOOK-1", 2, 1999), ("PEN", 1, 250)].map { sku, quantity, price in
            var item = Order.Item()
            item.sku = sku
            item.quantity = Int32(quantity)
            item.unitPrice = Int64(price)
            return item
        }
        return try await orders.createOrder(request, options: bearer(token))
    }

    static let visa = "4242424242424242"

    /// A request paying `order` in full with `number`.
    static func request(_ order: Order, number: String = visa, amount: Int64? = nil, currency: String? = nil,
                        expMonth: Int32 = 12, expYear: Int32 = 2031, cvc: String = "123") -> CreatePaymentRequest {
        var request = CreatePaymentRequest()
        request.orderId = order.id
        request.amount = amount ?? order.total
        request.currency = currency ?? order.currency
        var card = Card()
        card.number = number
        card.expMonth = expMonth
        card.expYear = expYear
        card.cvc = cvc
        request.card = card
        return request
    }

    /// Options carrying `token` and idempotency key `key`.
    static func options(_ token: String, key: String? = UUID().uuidString, timeout: Duration? = nil) -> CallOptions {
        var options = bearer(token, timeout: timeout)
        if let key { options.metadata.append("idempotency-key", key) }
        return options
    }

    func pay(_ order: Order, token: String, key: String = UUID().uuidString, number: String = visa) async throws -> Payment {
        try await payments.createPayment(Self.request(order, number: number), options: Self.options(token, key: key))
    }

    /// Pays `order` while orders goes down: it was checked, then the server stops during the
    /// charge, so the payment commits and its MarkOrderPaid waits in the outbox.
    func payWhileOrdersGoesDown(_ order: Order, token: String) async throws -> Payment {
        let server = ordersServer
        network.duringCharge { await server.stop() }
        defer { network.duringCharge(nil) }
        return try await pay(order, token: token)
    }

    func order(_ id: String, token: String) async throws -> Order {
        var request = GetOrderRequest()
        request.orderId = id
        return try await orders.getOrder(request, options: bearer(token))
    }

    /// Waits (up to `limit`) until `id` has `status`; the order as last seen.
    func awaitOrder(_ id: String, token: String, status: Order.Status, limit: Duration = .seconds(15)) async throws -> Order {
        let end = ContinuousClock.now + limit
        while true {
            let order = try await self.order(id, token: token)
            if order.status == status || ContinuousClock.now >= end { return order }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits (up to `limit`) until `sql` counts `expected`; the count as last seen.
    func awaitCount(_ sql: SQLQuery, _ expected: Int64, limit: Duration = .seconds(15)) async throws -> Int64 {
        let end = ContinuousClock.now + limit
        while true {
            let found = try await count(sql)
            if found == expected || ContinuousClock.now >= end { return found }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func count(_ sql: SQLQuery) async throws -> Int64 {
        try await pool.query(sql)[0].decode(0, as: Int64.self)
    }
}

/// The simulated card network, counting the charges and refunds it made (by payment id), and
/// able to run a test's action during a charge (to stop orders, or cancel the order, at that moment).
final class CountingCardNetwork: PaymentProcessor {
    private let real = SimulatedCardNetwork()
    private let state = Mutex<(charges: [UUID], refunds: [UUID], duringCharge: (@Sendable () async -> Void)?, delay: Duration)>(([], [], nil, .zero))

    var charges: [UUID] { state.withLock { $0.charges } }
    var refunds: [UUID] { state.withLock { $0.refunds } }
    /// Runs `action` inside every later charge, before it answers.
    func duringCharge(_ action: (@Sendable () async -> Void)?) { state.withLock { $0.duringCharge = action } }
    /// Makes every later charge take `delay`.
    func slowDown(_ delay: Duration) { state.withLock { $0.delay = delay } }

    func charge(_ charge: Charge) async throws(ProcessorError) -> ChargeOutcome {
        let (action, delay) = state.withLock { ($0.duringCharge, $0.delay) }
        if delay > .zero { try? await Task.sleep(for: delay) }
        await action?()
        let outcome = try await real.charge(charge)
        if outcome == .approved { state.withLock { $0.charges.append(charge.reference) } }
        return outcome
    }

    func refund(reference: UUID, amount: Int64, currency: String) async throws(ProcessorError) {
        try await real.refund(reference: reference, amount: amount, currency: currency)
        state.withLock { $0.refunds.append(reference) }
    }
}

/// The real orders service, recording the deadlines of the GetOrder calls it serves, and how
/// many MarkOrderPaid calls of one payment it was serving at once (at most).
final class ObservedOrders: OrdersService.Handler, Sendable {
    let real: OrdersServiceHandler
    private let state = Mutex<(deadlines: [ContinuousClock.Instant?], inFlight: [String: Int], mostAtOnce: Int, markPaid: Int,
                               refusing: Bool, delay: Duration)>(([], [:], 0, 0, false, .milliseconds(20)))

    init(_ real: OrdersServiceHandler) { self.real = real }

    var getOrderDeadlines: [ContinuousClock.Instant?] { state.withLock { $0.deadlines } }
    /// The most MarkOrderPaid calls of a single payment served at the same time.
    var mostMarkPaidAtOnce: Int { state.withLock { $0.mostAtOnce } }
    var markPaidCalls: Int { state.withLock { $0.markPaid } }
    /// Makes MarkOrderPaid answer UNAVAILABLE (orders overloaded) until told otherwise.
    func refuseMarkPaid(_ refusing: Bool) { state.withLock { $0.refusing = refusing } }
    /// Makes MarkOrderPaid take `delay` (20 ms by default, so that two deliveries of one row would overlap).
    func delayMarkPaid(_ delay: Duration) { state.withLock { $0.delay = delay } }

    func createOrder(_ request: CreateOrderRequest, context: ServerContext) async throws -> Order {
        try await real.createOrder(request, context: context)
    }
    func getOrder(_ request: GetOrderRequest, context: ServerContext) async throws -> Order {
        state.withLock { $0.deadlines.append(context.deadline) }
        return try await real.getOrder(request, context: context)
    }
    func listOrders(_ request: ListOrdersRequest, context: ServerContext) async throws -> ListOrdersResponse {
        try await real.listOrders(request, context: context)
    }
    func cancelOrder(_ request: CancelOrderRequest, context: ServerContext) async throws -> Order {
        try await real.cancelOrder(request, context: context)
    }
    func markOrderPaid(_ request: MarkOrderPaidRequest, context: ServerContext) async throws -> Order {
        if state.withLock({ $0.refusing }) { throw RPCError(.unavailable, "orders is overloaded (a test said so)") }
        state.withLock { state in
            state.markPaid += 1
            state.inFlight[request.paymentId, default: 0] += 1
            state.mostAtOnce = max(state.mostAtOnce, state.inFlight[request.paymentId]!)
        }
        defer { state.withLock { $0.inFlight[request.paymentId, default: 1] -= 1 } }
        try await Task.sleep(for: state.withLock { $0.delay })
        return try await real.markOrderPaid(request, context: context)
    }
    func markOrderRefunded(_ request: MarkOrderRefundedRequest, context: ServerContext) async throws -> Order {
        try await real.markOrderRefunded(request, context: context)
    }
}

/// Log lines kept in memory, every level, to search for what must never be logged.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func logger(label: String) -> Logger {
        Logger(label: label) { label in Handler(label: label, sink: self) }
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let label: String
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let error = event.error.map { " error=\($0)" } ?? ""
            sink.append("\(event.level) \(label): \(event.message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))\(error)")
        }
    }
}
