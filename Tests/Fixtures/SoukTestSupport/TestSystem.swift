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
import SoukUsers

/// The three services, each on a schema of its own in the test database and behind a real
/// RPC server on 127.0.0.1: payments calls orders over TCP (orders can be stopped and
/// started again), orders calls users, and tests call all three over TCP. The payments
/// outbox relay runs as it does in `souk payments`.
public struct TestSystem: Sendable {
    /// What a test may change of the system.
    public struct Options: Sendable {
        /// Where payments charges cards.
        public var processor: any PaymentProcessor = SimulatedCardNetwork()
        /// Run the payments outbox relay (off when a test runs its own).
        public var relaying = true
        /// The payments service's logger (its handler, relay and RPC server).
        public var paymentsLogger = TestSchema.logger
        /// What serves orders: the real handler, or a wrapper around it.
        public var ordersService: @Sendable (OrdersServiceHandler) -> any RPCService = { $0 }

        public init() {}
    }

    public let usersTransport: RPCClient
    /// A client of the orders server for the tests' own calls.
    public let ordersTransport: RPCClient
    public let paymentsTransport: RPCClient
    public let usersPool: PostgresPool
    public let ordersPool: PostgresPool
    public let paymentsPool: PostgresPool
    /// The URL that reaches the payments schema.
    public let paymentsURL: String
    /// The orders server, which a test may stop and start.
    public let ordersServer: RestartableServer
    /// What serves orders (``Options/ordersService``).
    public let ordersService: any RPCService
    /// The payments service's own client of orders.
    public let paymentsOrdersTransport: RPCClient
    public let relay: OutboxRelay
    public let userKey: SigningKey
    public let serviceKey: SigningKey
    /// The payments service's key for request fingerprints.
    public let fingerprints: MessageAuthenticator

    /// Relaying settings for tests: quick retries, frequent polls.
    public static var relaySettings: OutboxRelay.Configuration {
        var configuration = OutboxRelay.Configuration()
        configuration.firstBackoff = .milliseconds(50)
        configuration.maxBackoff = .milliseconds(300)
        configuration.pollInterval = .milliseconds(200)
        configuration.callTimeout = .seconds(2)
        configuration.batchSize = 4
        return configuration
    }

    /// A client of an orders server that reconnects soon after it comes back.
    public static func ordersClient(_ port: Int) -> RPCClient {
        RPCClient(endpoints: [RPCClient.Endpoint(host: "127.0.0.1", port: port)],
                  configuration: .init(connectTimeout: .milliseconds(500),
                                       reconnectBackoff: .init(initial: .milliseconds(20), maximum: .milliseconds(200))))
    }

    /// Runs `body` with the system up; everything is stopped when it ends, however it ends.
    /// Without the test database, records why and returns.
    public static func with(_ options: Options = Options(), _ body: (TestSystem) async throws -> Void) async throws {
        guard let baseURL = TestSchema.baseURL else {
            throw TestSchemaMissing()
        }
        let userKey = try SigningKey.generate(id: "users-test")
        let serviceKey = try SigningKey.generate(id: "services-test")
        let userTokens = TokenVerifier(issuer: "souk-users", keys: [userKey.verificationKey])
        try await TestSchema.with(prefix: "users", migrations: UsersServiceHandler.migrations(), baseURL: baseURL) { usersPool, _ in
        try await TestSchema.with(prefix: "orders", migrations: OrdersServiceHandler.migrations(), baseURL: baseURL) { ordersPool, _ in
        try await TestSchema.with(prefix: "payments", migrations: PaymentsServiceHandler.migrations(), baseURL: baseURL) { pool, url in
            let usersHandler = try await TestUsers.handler(pool: usersPool, userKey: userKey, serviceKey: serviceKey)
            try await TestServer.with(services: [usersHandler]) { usersTransport, _ in
                let ordersHandler = TestOrders.handler(pool: ordersPool, users: usersTransport, userKey: userKey,
                                                       serviceKey: serviceKey)
                let ordersService = options.ordersService(ordersHandler)
                let ordersServer = try await RestartableServer(services: [ordersService])
                let paymentsOrdersTransport = Self.ordersClient(ordersServer.port)
                let testsOrdersTransport = RPCClient(endpoints: [ordersServer.endpoint])
                let logger = options.paymentsLogger
                let ordersClient = OrdersService.Client(transport: paymentsOrdersTransport)
                let relay = OutboxRelay(database: pool, orders: ordersClient,
                                        credentials: OutgoingCredentials(caller: "souk-payments", key: serviceKey),
                                        processor: options.processor, configuration: relaySettings, logger: logger)
                let fingerprints = MessageAuthenticator.random()
                let paymentsHandler = PaymentsServiceHandler(
                    database: pool,
                    configuration: .init(callers: CallerCheck(userTokens: userTokens,
                                                              serviceCredentials: ServiceCredentials.verifier(for: "souk-payments", keys: [])),
                                         orders: ordersClient, relay: relay, processor: options.processor,
                                         fingerprints: fingerprints, pageTokens: MessageAuthenticator.random()),
                    logger: logger)
                let relaying = Task { if options.relaying { try await relay.run() } }
                func stop() async {
                    relaying.cancel()
                    _ = try? await relaying.value
                    await testsOrdersTransport.close()
                    await paymentsOrdersTransport.close()
                    await ordersServer.stop()
                }
                do {
                    try await TestServer.with(services: [paymentsHandler], logger: logger) { paymentsTransport, _ in
                        try await body(TestSystem(
                            usersTransport: usersTransport, ordersTransport: testsOrdersTransport,
                            paymentsTransport: paymentsTransport, usersPool: usersPool, ordersPool: ordersPool,
                            paymentsPool: pool, paymentsURL: url, ordersServer: ordersServer, ordersService: ordersService,
                            paymentsOrdersTransport: paymentsOrdersTransport, relay: relay, userKey: userKey,
                            serviceKey: serviceKey, fingerprints: fingerprints))
                    }
                } catch {
                    await stop()
                    throw error
                }
                await stop()
            }
        }
        }
        }
    }
}

/// `SOUK_TEST_DATABASE_URL` is not set.
public struct TestSchemaMissing: Error, CustomStringConvertible {
    public var description: String { TestSchema.missingDatabase }
}
