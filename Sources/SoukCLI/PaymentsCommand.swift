import ArgumentParser
import SoukAuth
import SoukContracts
import SoukPayments
import SoukRPC
import SoukServiceKit

/// `souk payments`: runs the payments service and its outbox relay until SIGTERM or SIGINT.
public struct PaymentsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "payments",
        abstract: "Run the payments service (RPC server and outbox relay), migrating its database first.",
        discussion: """
            Settings come from options, or else from the environment: SOUK_PAYMENTS_DATABASE_URL, \
            SOUK_ORDERS_ADDRESS (the orders service: host:port, several joined by commas), \
            SOUK_USERS_PUBLIC_KEYS_FILE (the public keys of users' access tokens), \
            SOUK_SERVICE_SIGNING_KEY_FILE (this service's key for its calls to orders, also the root \
            of its page-token and request-fingerprint keys; readable by its owner only). Cards are \
            charged by the built-in simulated card network.
            """)

    @Option(help: "The orders service: host:port, several joined by commas.") public var ordersAddress: String?
    @Option(help: "The file of the public keys of users' access tokens.") public var usersPublicKeysFile: String?
    @Option(help: "The file of this service's signing key, for its calls to other services.")
    public var serviceSigningKeyFile: String?
    @Option(help: "Hours an idempotency key is kept (at least 24).") public var idempotencyKeyHours = 24
    @Option(help: """
        Seconds a process owns an outbox row it delivers; a row whose process died is delivered \
        by another (or the restarted one) after this.
        """)
    public var outboxLeaseSeconds = 30
    @OptionGroup public var service: ServiceOptions

    public init() {}

    public func validate() throws {
        guard (24...24 * 365).contains(idempotencyKeyHours) else {
            throw ValidationError("--idempotency-key-hours must be 24 to 8760, not \(idempotencyKeyHours)")
        }
        guard (2...3600).contains(outboxLeaseSeconds) else {
            throw ValidationError("--outbox-lease-seconds must be 2 to 3600, not \(outboxLeaseSeconds)")
        }
    }

    public func run() async throws {
        let runner = try ServiceRunner(name: "payments", options: service)
        let orders = try Setting.endpoints(ordersAddress, "SOUK_ORDERS_ADDRESS", option: "--orders-address",
                                          fallback: ServiceRunner.defaultAddress(of: "orders"))
        let userKeys = try Setting.verificationKeys(usersPublicKeysFile, "SOUK_USERS_PUBLIC_KEYS_FILE",
                                                    option: "--users-public-keys-file", development: "users.pub")
        let serviceKey = try Setting.signingKey(serviceSigningKeyFile, "SOUK_SERVICE_SIGNING_KEY_FILE",
                                                option: "--service-signing-key-file", development: "services.key")
        let ordersClient = RPCClient(endpoints: orders)
        let retention = Duration.seconds(idempotencyKeyHours * 3600)
        try await runner.run(migrations: PaymentsServiceHandler.migrations(), clients: [ordersClient]) { pool, logger in
            let processor = SimulatedCardNetwork()
            let ordersService = OrdersService.Client(transport: ordersClient)
            var relayConfiguration = OutboxRelay.Configuration()
            relayConfiguration.keyRetention = retention
            relayConfiguration.lease = .seconds(outboxLeaseSeconds)
            // A delivery ends well within its lease.
            relayConfiguration.callTimeout = min(.seconds(5), .seconds(outboxLeaseSeconds) / 3)
            let relay = OutboxRelay(database: pool, orders: ordersService,
                                    credentials: OutgoingCredentials(caller: "souk-payments", key: serviceKey),
                                    processor: processor, configuration: relayConfiguration, logger: logger)
            let configuration = PaymentsServiceHandler.Configuration(
                callers: CallerCheck(userTokens: TokenVerifier(issuer: "souk-users", keys: userKeys),
                                     serviceCredentials: ServiceCredentials.verifier(for: "souk-payments", keys: [])),
                orders: ordersService, relay: relay, processor: processor,
                fingerprints: MessageAuthenticator(derivedFrom: serviceKey, purpose: "souk.payments.v1 request fingerprints"),
                pageTokens: MessageAuthenticator(derivedFrom: serviceKey, purpose: "souk.payments.v1 page tokens"))
            return .init(handlers: [PaymentsServiceHandler(database: pool, configuration: configuration, logger: logger)],
                         background: [relay])
        }
    }
}
