import Foundation
import Logging
import SoukContracts
import SoukProtobuf
import SoukRPC
import SoukRPCCore
import SoukUsers
import SoukWire
import Testing

@Suite("The users service over a real RPC server and TCP", .serialized)
struct UsersOverTCPTests {
    @Test("registration, sign-in, the current user and the internal lookup work over the wire, errors intact")
    func overTheWire() async throws {
        try await UsersTestHarness.with { h in
            let handler = try await UsersServiceHandler(database: h.pool, configuration: h.configuration,
                                                        logger: UsersTestHarness.logger)
            var logger = Logger(label: "souk.users.tests.server")
            logger.logLevel = .critical
            let server = RPCServer(services: [handler], configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
            let running = Task { try await server.run() }
            let port = try await server.listeningAddress.port!
            let transport = RPCClient(host: "127.0.0.1", port: port)
            let users = UsersService.Client(transport: transport)
            do {
                var create = CreateUserRequest()
                create.email = "ada@example.com"
                create.password = "correct horse battery"
                create.fullName = "Ada Lovelace"
                let user = try await users.createUser(create)

                var bad = create
                bad.email = "nope"
                bad.password = "short"
                let invalid = try await #require(throws: RPCError.self) { try await users.createUser(bad) }
                #expect(invalid.code == .invalidArgument)
                let details = try ErrorDetails(serializedBytes: invalid.details)
                #expect(details.badRequest?.fieldViolations.map(\.field) == ["email", "password"])
                #expect(try await #require(throws: RPCError.self) { try await users.createUser(create) }.code == .alreadyExists)

                var signIn = AuthenticateRequest()
                signIn.email = "ada@example.com"
                signIn.password = "correct horse battery"
                let token = try await users.authenticate(signIn).accessToken
                let me = try await users.getCurrentUser(GetCurrentUserRequest(), options: UsersTestHarness.bearer(token))
                #expect(me == user)

                var lookup = GetUserRequest()
                lookup.userId = user.id
                #expect(try await users.getUser(lookup, options: h.serviceCredential()).user == user)
                let refused = try await #require(throws: RPCError.self) {
                    try await users.getUser(lookup, options: UsersTestHarness.bearer(token))
                }
                #expect(refused.code == .permissionDenied)
            } catch {
                await transport.close()
                server.closeNow()
                _ = try? await running.value
                throw error
            }
            await transport.close()
            server.beginGracefulShutdown()
            try await running.value
        }
    }
}
