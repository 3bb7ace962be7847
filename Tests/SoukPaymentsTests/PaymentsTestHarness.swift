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

/// The payments service with the real orders and users services, each on a schema of its
/// own in the test database and each behind a real RPC server on 127.0.0.1: payments calls
/// orders over TCP (orders can be stopped and started again), orders calls users, and tests
/// call all three over TCP. The outbox relay runs as it does in `souk payments`.
struct PaymentsTestHarness: Sendable {
    let payments: PaymentsService.Client
    let orders: OrdersService.Client
    let users: UsersService.Client
    /// The payments schema, and the URL that reaches it.
    let pool: PostgresPool
    let url: String
    /// The orders schema.
    let ordersPool: PostgresPool
    /// The orders server, which a test may stop and start.
    let ordersServer: RestartableServer
    /// What the orders service saw of the payments service's calls.
    let ordersSaw: ObservedOrders
    /// The card network, counting what it charged and refunded.
    let network: CountingCardNetwork
    /// Every log line of the payments service.
    let logs: LogLines
    let relay: OutboxRelay
    let serviceKey: SigningKey
    let userKey: SigningKey
    /// The payments service's own client of orders.
    let ordersTransport: RPCClient
    /// The payments service's key for request fingerprints.
    let fingerprints: MessageAuthenticator

    /// Relaying settings for tests: quick retries, frequent polls.
    static var relaySettings: OutboxRelay.Configuration {
        var configuration = OutboxRelay.Configuration()
        configuration.firstBackoff = .milliseconds(50)
        configuration.maxBackoff = .milliseconds(300)
        configuration.pollInterval = .milliseconds(200)
        configuration.callTimeout = .seconds(2)
        configuration.batchSize = 4
        return configuration
    }

    /// `relaying`: run the in-process outbox relay (off when a test runs `souk payments` itself).
    static func with(relaying: Bool = true, _ body: (PaymentsTestHarness) async throws -> Void) async throws {
        guard let baseURL = TestSchema.baseURL else {
            Issue.record(Comment(rawValue: TestSchema.missingDatabase))
            return
        }
        let userKey = try SigningKey.generate(id: "users-test")
        let serviceKey = try SigningKey.generate(id: "services-test")
        let userTokens = TokenVerifier(issuer: "souk-users", keys: [userKey.verificationKey])
        try await TestSchema.with(prefix: "users", migrations: UsersServiceHandler.migrations(), baseURL: baseURL) { usersPool, _ in
        try await TestSchema.with(prefix: "orders", migrations: OrdersServiceHandler.migrations(), baseURL: baseURL) { ordersPool, _ in
        try await TestSchema.with(prefix: "payments", migrations: PaymentsServiceHandler.migrations(), baseURL: baseURL) { pool, url in
            let usersHandler = try await TestUsers.handler(pool: usersPool, userKey: userKey, serviceKey: serviceKey)
            try await TestServer.with(services: [usersHandler]) { usersTransport, _ in
                let ordersHandler = OrdersServiceHandler(
                    database: ordersPool,
                    configuration: .init(
                        callers: CallerCheck(userTokens: userTokens,
                                             serviceCredentials: ServiceCredentials.verifier(for: "souk-orders", keys: [serviceKey.verificationKey])),
                        users: UsersService.Client(transport: usersTransport),
                        credentials: OutgoingCredentials(caller: "souk-orders", key: serviceKey),
                        pageTokens: MessageAuthenticator.random()),
                    logger: TestSchema.logger)
                let observed = ObservedOrders(ordersHandler)
                let ordersServer = try await RestartableServer(services: [observed])
                let ordersTransport = Self.ordersClient(ordersServer.port)
                let testsOrdersClient = RPCClient(endpoints: [ordersServer.endpoint])
                let logs = LogLines()
                let logger = logs.logger(label: "souk.payments")
                let network = CountingCardNetwork()
                let ordersService = OrdersService.Client(transport: ordersTransport)
                let relay = OutboxRelay(database: pool, orders: ordersService,
                                        credentials: OutgoingCredentials(caller: "souk-payments", key: serviceKey),
                                        processor: network, configuration: relaySettings, logger: logger)
                let fingerprints = MessageAuthenticator.random()
                let handler = PaymentsServiceHandler(
                    database: pool,
                    configuration: .init(callers: CallerCheck(userTokens: userTokens,
                                                              serviceCredentials: ServiceCredentials.verifier(for: "souk-payments", keys: [])),
                                         orders: ordersService, relay: relay, processor: network,
                                         fingerprints: fingerprints, pageTokens: MessageAuthenticator.random()),
                    logger: logger)
                let relaying = Task { if relaying { try await relay.run() } }
                defer { relaying.cancel() }
                do {
                    try await TestServer.with(services: [handler], logger: logger) { paymentsTransport, _ in
                        try await body(PaymentsTestHarness(
                            payments: PaymentsService.Client(transport: paymentsTransport),
                            orders: OrdersService.Client(transport: testsOrdersClient),
                            users: UsersService.Client(transport: usersTransport),
                            pool: pool, url: url, ordersPool: ordersPool, ordersServer: ordersServer, ordersSaw: observed,
                            network: network, logs: logs, relay: relay, serviceKey: serviceKey, userKey: userKey,
                            ordersTransport: ordersTransport, fingerprints: fingerprints))
                    }
                } catch {
                    relaying.cancel()
                    _ = try? await relaying.value
                    await testsOrdersClient.close()
                    await ordersTransport.close()
                    await ordersServer.stop()
                    throw error
                }
                relaying.cancel()
                _ = try? await relaying.value
                await testsOrdersClient.close()
                await ordersTransport.close()
                await ordersServer.stop()
            }
        }
        }
        }
    }

    /// A client of the orders server that reconnects soon after it comes back.
    static func ordersClient(_ port: Int) -> RPCClient {
        RPCClient(endpoints: [RPCClient.Endpoint(host: "127.0.0.1", port: port)],
                  configuration: .init(connectTimeout: .milliseconds(500),
                                       reconnectBackoff: .init(initial: .milliseconds(20), maximum: .milliseconds(200))))
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
