import Foundation
import Logging
import SoukAuth
import SoukContracts
import SoukPostgres
import SoukRPCCore
import SoukTestSupport
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

    static var logger: Logger { TestSchema.logger }

    static func with(hasher: PasswordHasher = PasswordHasher(parameters: .minimal),
                     _ body: (UsersTestHarness) async throws -> Void) async throws {
        guard let baseURL = TestSchema.baseURL else {
            Issue.record(Comment(rawValue: TestSchema.missingDatabase))
            return
        }
        try await TestSchema.with(prefix: "users", migrations: UsersServiceHandler.migrations(), baseURL: baseURL) { pool, url in
            let userKey = try SigningKey.generate(id: "users-test")
            let serviceKey = try SigningKey.generate(id: "services-test")
            let configuration = testConfiguration(userKey: userKey, serviceKey: serviceKey, hasher: hasher)
            let handler = try await UsersServiceHandler(database: pool, configuration: configuration, logger: logger)
            let transport = InProcessTransport(services: [handler])
            let harness = UsersTestHarness(
                client: UsersService.Client(transport: transport), transport: transport,
                pool: pool, userKey: userKey, serviceKey: serviceKey, configuration: configuration, databaseURL: url)
            try await body(harness)
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

    func serviceCredential(subject: String = "souk-orders", callee: String = "souk-users") -> CallOptions {
        bearer(ServiceCredentials.issue(caller: subject, callee: callee, key: serviceKey))
    }
}
