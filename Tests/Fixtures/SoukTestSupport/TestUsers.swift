import Foundation
import SoukAuth
import SoukContracts
import SoukOrders
import SoukRPCCore
import SoukServiceKit
import SoukPostgres
import SoukUsers

/// The real users service, for the tests of the services that call it: its handler on a
/// migrated schema, and accounts made and signed in through it.
public enum TestUsers {
    /// The users service on `pool`: it signs access tokens with `userKey` and accepts the
    /// service credentials `serviceKey` signs; passwords hashed cheaply, for speed.
    public static func handler(pool: PostgresPool, userKey: SigningKey, serviceKey: SigningKey) async throws -> UsersServiceHandler {
        try await UsersServiceHandler(
            database: pool,
            configuration: .init(tokenIssuer: TokenIssuer(key: userKey, issuer: "souk-users"),
                                 userTokens: TokenVerifier(issuer: "souk-users", keys: [userKey.verificationKey]),
                                 serviceCredentials: ServiceCredentials.verifier(for: "souk-users", keys: [serviceKey.verificationKey]),
                                 passwordHasher: PasswordHasher(parameters: .minimal)),
            logger: TestSchema.logger)
    }

    /// A new account named `name`, signed in: its id and access token.
    public static func signUp(_ users: UsersService.Client, _ name: String = "ada") async throws -> (id: String, token: String) {
        var create = CreateUserRequest()
        create.email = "\(name)-\(UUID().uuidString.prefix(8))@example.com"
        create.password = "correct horse battery"
        create.fullName = name
        let user = try await users.createUser(create)
        var signIn = AuthenticateRequest()
        signIn.email = create.email
        signIn.password = create.password
        return (user.id, try await users.authenticate(signIn).accessToken)
    }
}

/// The real orders service, for the tests of orders and of the services that call it.
public enum TestOrders {
    /// The orders service on `pool`, asking users through `users`: it accepts access tokens
    /// signed with `userKey` and service credentials signed with `serviceKey`, and signs its
    /// own calls with `serviceKey`.
    public static func handler(pool: PostgresPool, users: any ClientTransport, userKey: SigningKey,
                               serviceKey: SigningKey) -> OrdersServiceHandler {
        OrdersServiceHandler(
            database: pool,
            configuration: .init(
                callers: CallerCheck(userTokens: TokenVerifier(issuer: "souk-users", keys: [userKey.verificationKey]),
                                     serviceCredentials: ServiceCredentials.verifier(for: "souk-orders", keys: [serviceKey.verificationKey])),
                users: UsersService.Client(transport: users),
                credentials: OutgoingCredentials(caller: "souk-orders", key: serviceKey),
                pageTokens: MessageAuthenticator.random()),
            logger: TestSchema.logger)
    }
}
