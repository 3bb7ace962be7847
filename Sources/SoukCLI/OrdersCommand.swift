import Foundation
import ArgumentParser
import SoukAuth
import SoukContracts
import SoukOrders
import SoukRPC
import SoukServiceKit

/// `souk orders`: runs the orders service until SIGTERM or SIGINT.
public struct OrdersCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "orders",
        abstract: "Run the orders service (RPC server), migrating its database first.",
        discussion: """
            Settings come from options, or else from the environment: SOUK_ORDERS_DATABASE_URL, \
            SOUK_USERS_ADDRESS (the users service: host:port, several joined by commas), \
            SOUK_USERS_PUBLIC_KEYS_FILE (the public keys of users' access tokens), \
            SOUK_SERVICE_SIGNING_KEY_FILE (this service's key for its calls to users, also the root \
            of its page-token key; readable by its owner only), SOUK_SERVICE_KEYS_FILE (public keys \
            of the service credentials internal rpcs accept).
            """)

    @Option(help: "The users service: host:port, several joined by commas.") public var usersAddress: String?
    @Option(help: "The file of the public keys of users' access tokens.") public var usersPublicKeysFile: String?
    @Option(help: "The file of this service's signing key, for its calls to other services.")
    public var serviceSigningKeyFile: String?
    @Option(help: "The file of the public keys of trusted service credentials.") public var serviceKeysFile: String?
    @OptionGroup public var service: ServiceOptions

    public init() {}

    public func run() async throws {
        // Every statement of orders is a statement of its own, outside any transaction, so no
        // call holds a connection past its statement: one pipelined connection per two cores
        // serves more calls, with fewer thread hand-offs, than one per core (GetOrder 0.56 of
        // pgbench -S with 1 on two cores, 0.47 with 2; Benchmarks/README.md).
        let runner = try ServiceRunner(name: "orders",
                                       defaultDatabaseConnections: max(1, ProcessInfo.processInfo.activeProcessorCount / 2),
                                       options: service)
        let users = try Setting.endpoints(usersAddress, "SOUK_USERS_ADDRESS", option: "--users-address",
                                          fallback: ServiceRunner.defaultAddress(of: "users"))
        let userKeys = try Setting.verificationKeys(usersPublicKeysFile, "SOUK_USERS_PUBLIC_KEYS_FILE",
                                                    option: "--users-public-keys-file", development: "users.pub")
        let serviceKey = try Setting.signingKey(serviceSigningKeyFile, "SOUK_SERVICE_SIGNING_KEY_FILE",
                                                option: "--service-signing-key-file", development: "services.key")
        let serviceKeys = try Setting.verificationKeys(serviceKeysFile, "SOUK_SERVICE_KEYS_FILE", option: "--service-keys-file",
                                                     development: "services.pub")
        let usersClient = RPCClient(endpoints: users)
        try await runner.run(migrations: OrdersServiceHandler.migrations(), clients: [usersClient]) { pool, logger in
            let configuration = OrdersServiceHandler.Configuration(
                callers: CallerCheck(userTokens: TokenVerifier(issuer: "souk-users", keys: userKeys),
                                     serviceCredentials: ServiceCredentials.verifier(for: "souk-orders", keys: serviceKeys)),
                users: UsersService.Client(transport: usersClient),
                credentials: OutgoingCredentials(caller: "souk-orders", key: serviceKey),
                pageTokens: MessageAuthenticator(derivedFrom: serviceKey, purpose: "souk.orders.v1 page tokens"))
            return [OrdersServiceHandler(database: pool, configuration: configuration, logger: logger)]
        }
    }
}
