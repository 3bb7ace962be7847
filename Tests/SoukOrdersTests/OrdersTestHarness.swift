import Foundation
import Synchronization
import Logging
import SoukAuth
import SoukContracts
import SoukOrders
import SoukPostgres
import SoukRPC
import SoukRPCCore
import SoukServiceKit
import SoukTestSupport
import SoukUsers
import Testing

/// The orders service and the real users service, each on a schema of its own in the test
/// database and each behind a real RPC server on 127.0.0.1; the orders service calls users
/// over TCP, and tests call orders over TCP.
struct OrdersTestHarness: Sendable {
    /// The orders service, over TCP.
    let orders: OrdersService.Client
    /// The users service, over TCP.
    let users: UsersService.Client
    /// The orders schema.
    let pool: PostgresPool
    /// The users schema.
    let usersPool: PostgresPool
    let serviceKey: SigningKey
    /// The users server, which a test may stop.
    let usersServer: RPCServer
    /// What the users service saw of the orders service's calls.
    let usersSaw: ObservedUsers

    /// `deadUsersEndpoints`: addresses nothing listens on, listed before the live users server
    /// in the orders service's users client (replicas that are down).
    static func with(deadUsersEndpoints: [RPCClient.Endpoint] = [], _ body: (OrdersTestHarness) async throws -> Void) async throws {
        guard let baseURL = TestSchema.baseURL else {
            Issue.record(Comment(rawValue: TestSchema.missingDatabase))
            return
        }
        let userKey = try SigningKey.generate(id: "users-test")
        let serviceKey = try SigningKey.generate(id: "services-test")
        try await TestSchema.with(prefix: "users", migrations: UsersServiceHandler.migrations(), baseURL: baseURL) { usersPool, _ in
            try await TestSchema.with(prefix: "orders", migrations: OrdersServiceHandler.migrations(), baseURL: baseURL) { pool, _ in
                let usersHandler = try await TestUsers.handler(pool: usersPool, userKey: userKey, serviceKey: serviceKey)
                let observed = ObservedUsers(usersHandler)
                try await TestServer.with(services: [observed]) { usersTransport, usersServer in
                    let livePort = try await usersServer.listeningAddress.port!
                    let ordersUsersClient = deadUsersEndpoints.isEmpty ? usersTransport
                        : RPCClient(endpoints: deadUsersEndpoints + [RPCClient.Endpoint(host: "127.0.0.1", port: livePort)])
                    defer { if ordersUsersClient !== usersTransport { Task { await ordersUsersClient.close() } } }
                    let ordersHandler = TestOrders.handler(pool: pool, users: ordersUsersClient, userKey: userKey,
                                                           serviceKey: serviceKey)
                    try await TestServer.with(services: [ordersHandler]) { ordersTransport, _ in
                        try await body(OrdersTestHarness(
                            orders: OrdersService.Client(transport: ordersTransport),
                            users: UsersService.Client(transport: usersTransport),
                            pool: pool, usersPool: usersPool, serviceKey: serviceKey, usersServer: usersServer,
                            usersSaw: observed))
                    }
                }
            }
        }
    }

    /// A new user, signed in: its id and access token.
    func signUp(_ name: String = "ada") async throws -> (id: String, token: String) {
        try await TestUsers.signUp(users, name)
    }

    /// The credential the payments service sends to orders.
    func payments() -> CallOptions {
        CallOptions(metadata: OutgoingCredentials(caller: "souk-payments", key: serviceKey).metadata(for: "souk-orders"))
    }

    static func request(currency: String = "EUR", _ items: [(sku: String, quantity: Int32, unitPrice: Int64)]) -> CreateOrderRequest {
        var request = CreateOrderRequest()
        request.currency = currency
        request.items = items.map { line in
            var item = Order.Item()
            item.sku = line.sku
            item.quantity = line.quantity
            item.unitPrice = line.unitPrice
            return item
        }
        return request
    }

    /// An order of two lines (2 × 1999 + 1 × 250 = 4248 EUR) for `token`'s user.
    func placeOrder(_ token: String) async throws -> Order {
        try await orders.createOrder(Self.request([("BOOK-1", 2, 1999), ("PEN", 1, 250)]), options: bearer(token))
    }

    func markPaid(_ order: Order, payment: String = UUID().uuidString.lowercased(), amount: Int64? = nil,
                  currency: String? = nil, options: CallOptions? = nil) async throws -> Order {
        var request = MarkOrderPaidRequest()
        request.orderId = order.id
        request.paymentId = payment
        request.amount = amount ?? order.total
        request.currency = currency ?? order.currency
        return try await orders.markOrderPaid(request, options: options ?? payments())
    }

    func count(_ table: StaticString, order: String) async throws -> Int64 {
        let id = UUID(uuidString: order)!
        let rows: PostgresRows
        switch "\(table)" {
        case "order_status_history":
            rows = try await pool.query("SELECT count(*) FROM order_status_history WHERE order_id = \(id)")
        case "order_items":
            rows = try await pool.query("SELECT count(*) FROM order_items WHERE order_id = \(id)")
        default:
            rows = try await pool.query("SELECT count(*) FROM orders WHERE order_id = \(id)")
        }
        return try rows[0].decode(0, as: Int64.self)
    }
}

/// The real users service, recording the deadline of each GetUser it serves and able to
/// answer it late, so that tests can see what reaches it.
final class ObservedUsers: UsersService.Handler, Sendable {
    let real: UsersServiceHandler
    private let state = Mutex<(deadlines: [ContinuousClock.Instant?], delay: Duration)>(([], .zero))

    init(_ real: UsersServiceHandler) { self.real = real }

    /// The deadlines of the GetUser calls so far (nil: none).
    var getUserDeadlines: [ContinuousClock.Instant?] { state.withLock { $0.deadlines } }
    /// Makes every later GetUser answer after `delay`.
    func delayGetUser(by delay: Duration) { state.withLock { $0.delay = delay } }

    func createUser(_ request: CreateUserRequest, context: ServerContext) async throws -> User {
        try await real.createUser(request, context: context)
    }
    func authenticate(_ request: AuthenticateRequest, context: ServerContext) async throws -> AuthenticateResponse {
        try await real.authenticate(request, context: context)
    }
    func getCurrentUser(_ request: GetCurrentUserRequest, context: ServerContext) async throws -> User {
        try await real.getCurrentUser(request, context: context)
    }
    func updateProfile(_ request: UpdateProfileRequest, context: ServerContext) async throws -> User {
        try await real.updateProfile(request, context: context)
    }
    func getUser(_ request: GetUserRequest, context: ServerContext) async throws -> GetUserResponse {
        let delay = state.withLock { state in
            state.deadlines.append(context.deadline)
            return state.delay
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        return try await real.getUser(request, context: context)
    }
}
