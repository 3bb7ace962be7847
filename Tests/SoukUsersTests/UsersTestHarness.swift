import Foundation
import Logging
import SoukAuth
import SoukContracts
import SoukPostgres
import SoukRPCCore
import SoukUsers
import Testing

/// A users service on a schema of its own in the test database, reached through its
/// generated client. The schema is dropped when the test ends.
struct UsersTestHarness: Sendable {
    let client: UsersService.Client
    /// The service in process, for calls that do not go through the stub (REST routes).
    let transport: InProcessTransport
    let pool: PostgresPool
    let userKey: SigningKey
    let serviceKey: SigningKey
    let configuration: UsersServiceHandler.Configuration
    let databaseURL: String

    static let issuer = "souk-users"

    static func testConfiguration(userKey: SigningKey, serviceKey: SigningKey,
                                  hasher: PasswordHasher = PasswordHasher(parameters: .minimal)) -> UsersServiceHandler.Configuration {
        var configuration = UsersServiceHandler.Configuration(
            tokenIssuer: TokenIssuer(key: userKey, issuer: issuer),
            userTokens: TokenVerifier(issuer: issuer, keys: [userKey.verificationKey]),
            serviceCredentials: ServiceCredentials.verifier(for: "souk-users", keys: [serviceKey.verificationKey]),
            passwordHasher: hasher)
        configuration.maxFailedSignIns = 3
        configuration.throttleWindow = .seconds(60)
        configuration.lockout = .seconds(2)
        return configuration
    }

    static var logger: Logger {
        var logger = Logger(label: "souk.users.tests")
        logger.logLevel = .critical
        return logger
    }

    static func with(hasher: PasswordHasher = PasswordHasher(parameters: .minimal),
                     _ body: (UsersTestHarness) async throws -> Void) async throws {
        guard let baseURL = ProcessInfo.processInfo.environment["SOUK_TEST_DATABASE_URL"], !baseURL.isEmpty else {
            Issue.record("SOUK_TEST_DATABASE_URL is not set: run Tools/test, or Tools/dev-db start && export SOUK_TEST_DATABASE_URL=$(Tools/dev-db url test)")
            return
        }
        let schema = "users_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try PostgresPool(url: baseURL, applicationName: "souk_users_tests", logger: logger)
        let url = baseURL + (baseURL.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
        let pool = try PostgresPool(url: url, applicationName: "souk_users_tests", logger: logger)
        do {
            // The migrator creates the schema; every connection of `pool` works in it.
            _ = try await Migrator(pool: pool, migrations: UsersServiceHandler.migrations(), schema: schema, logger: logger).up()
            let userKey = try SigningKey.generate(id: "users-test")
            let serviceKey = try SigningKey.generate(id: "services-test")
            let configuration = testConfiguration(userKey: userKey, serviceKey: serviceKey, hasher: hasher)
            let handler = try await UsersServiceHandler(database: pool, configuration: configuration, logger: logger)
            let transport = InProcessTransport(services: [handler])
            let harness = UsersTestHarness(
                client: UsersService.Client(transport: transport), transport: transport,
                pool: pool, userKey: userKey, serviceKey: serviceKey, configuration: configuration, databaseURL: url)
            try await body(harness)
        } catch {
            await pool.shutdown()
            try? await dropSchema(schema, admin: admin)
            await admin.shutdown()
            throw error
        }
        await pool.shutdown()
        try await dropSchema(schema, admin: admin)
        await admin.shutdown()
    }

    /// SQL text cannot hold a name built at run time, so a session-local function takes it as a parameter.
    static func dropSchema(_ schema: String, admin: PostgresPool) async throws {
        try await admin.transaction { tx in
            _ = try await tx.execute("""
                CREATE FUNCTION pg_temp.souk_drop_schema(name text) RETURNS void LANGUAGE plpgsql AS
                $$ BEGIN EXECUTE format('DROP SCHEMA %I CASCADE', name); END $$
                """)
            _ = try await tx.query("SELECT pg_temp.souk_drop_schema(\(schema))")
        }
    }

    /// A second service instance on the same database, as after a restart.
    func restartedClient(hasher: PasswordHasher? = nil) async throws -> UsersService.Client {
        var configuration = configuration
        if let hasher { configuration.passwordHasher = hasher }
        let handler = try await UsersServiceHandler(database: pool, configuration: configuration, logger: Self.logger)
        return UsersService.Client(transport: InProcessTransport(services: [handler]))
    }

    func createUser(email: String = "ada@example.com", password: String = "correct horse battery",
                    fullName: String = "Ada Lovelace") async throws -> User {
        var request = CreateUserRequest()
        request.email = email
        request.password = password
        request.fullName = fullName
        return try await client.createUser(request)
    }

    func signIn(email: String = "ada@example.com", password: String = "correct horse battery",
                client: UsersService.Client? = nil) async throws -> AuthenticateResponse {
        var request = AuthenticateRequest()
        request.email = email
        request.password = password
        return try await (client ?? self.client).authenticate(request)
    }

    static func bearer(_ token: String) -> CallOptions {
        CallOptions(metadata: Metadata(["authorization": "Bearer \(token)"]))
    }

    func serviceCredential(subject: String = "souk-orders", callee: String = "souk-users") -> CallOptions {
        Self.bearer(ServiceCredentials.issue(caller: subject, callee: callee, key: serviceKey))
    }
}
