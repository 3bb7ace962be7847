import Foundation
import SoukContracts
import SoukProtobuf
import SoukRPC
import SoukRPCCore
import SoukTestSupport
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
            try await TestServer.with(services: [handler]) { transport, _ in
                let users = UsersService.Client(transport: transport)
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
                let me = try await users.getCurrentUser(GetCurrentUserRequest(), options: bearer(token))
                #expect(me == user)

                var lookup = GetUserRequest()
                lookup.userId = user.id
                #expect(try await users.getUser(lookup, options: h.serviceCredential()).user == user)
                let refused = try await #require(throws: RPCError.self) {
                    try await users.getUser(lookup, options: bearer(token))
            }
            #expect(refused.code == .permissionDenied)
            }
        }
    }
}
