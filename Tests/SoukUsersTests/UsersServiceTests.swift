import Foundation
import SoukAuth
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukRPCCore
import SoukUsers
import SoukWire
import SoukTestSupport
import Testing

@Suite("The users service against a real PostgreSQL", .serialized)
struct UsersServiceTests {
    @Test("registering returns the user without any password field, with a fresh id")
    func register() async throws {
        try await UsersTestHarness.with { h in
            let user = try await h.createUser(fullName: "Zoë Ångström-李 🚀")
            #expect(UUID(uuidString: user.id) != nil)
            #expect(user.email == "ada@example.com")
            #expect(user.fullName == "Zoë Ångström-李 🚀")
            let createdAt = try #require(user.createdAt)
            #expect(abs(createdAt.seconds - Int64(Date().timeIntervalSince1970)) < 60)
            #expect(try !user.jsonString().contains("correct horse"))
            let stored = try await h.pool.query("SELECT password_hash FROM users")
            let hash = try stored[0].decode(0, as: String.self)
            #expect(hash.hasPrefix("$argon2id$"))
            #expect(!hash.contains("correct horse"))
        }
    }

    @Test("every invalid field is reported at once, and nothing is stored")
    func invalidRegistration() async throws {
        try await UsersTestHarness.with { h in
            let error = try await rpcError { _ = try await h.createUser(email: "not-an-email", password: "short", fullName: "") }
            #expect(error.code == .invalidArgument)
            let details = try ErrorDetails(serializedBytes: error.details)
            #expect(details.badRequest?.fieldViolations.map(\.field) == ["email", "password", "full_name"])
            let count = try await h.pool.query("SELECT count(*) FROM users")
            #expect(try count[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test("an email already registered in another case is ALREADY_EXISTS")
    func duplicateEmail() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser(email: "Ada@Example.com")
            let error = try await rpcError { _ = try await h.createUser(email: "ada@EXAMPLE.com") }
            #expect(error.code == .alreadyExists)
            #expect(error.message == "a user with this email already exists")
        }
    }

    @Test("signing in gives a Bearer token that expires in 15 minutes and names the user")
    func signIn() async throws {
        try await UsersTestHarness.with { h in
            let user = try await h.createUser()
            let reply = try await h.signIn(email: "ADA@example.com")
            #expect(reply.tokenType == "Bearer")
            #expect(reply.expiresIn == 900)
            let claims = try h.configuration.userTokens.verify(reply.accessToken, kind: .user)
            #expect(claims.subject == user.id)
            #expect(claims.expiresAt - claims.issuedAt == 900)
        }
    }

    @Test("an unknown email and a wrong password get the same answer")
    func noUserEnumeration() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            let wrongPassword = try await rpcError { _ = try await h.signIn(password: "wrong password!") }
            let unknownEmail = try await rpcError { _ = try await h.signIn(email: "nobody@example.com") }
            #expect(wrongPassword == unknownEmail)
            #expect(wrongPassword.code == .unauthenticated)
        }
    }

    @Test("an unknown email and a wrong password cost about the same time")
    func noTimingEnumeration() async throws {
        try await UsersTestHarness.with(hasher: PasswordHasher(parameters: .owasp)) { h in
            _ = try await h.createUser()
            func timed(_ email: String) async -> Duration {
                let start = ContinuousClock.now
                _ = try? await h.signIn(email: email, password: "wrong password!")
                return ContinuousClock.now - start
            }
            // Alternate, and compare medians: both include one Argon2id verification.
            var known: [Duration] = [], unknown: [Duration] = []
            for index in 0..<2 {
                known.append(await timed("ada@example.com"))
                unknown.append(await timed("nobody\(index)@example.com"))
            }
            let ratio = Double(known.sorted()[0].components.attoseconds + known.sorted()[0].components.seconds * 1_000_000_000_000_000_000)
                / Double(unknown.sorted()[0].components.attoseconds + unknown.sorted()[0].components.seconds * 1_000_000_000_000_000_000)
            // Not a timing assertion: an unknown email must not skip the hash (which is ~10x the rest).
            #expect(ratio > 0.2 && ratio < 5, "known \(known), unknown \(unknown)")
        }
    }

    @Test("repeated failures for one email are throttled, across a restart, and the block lifts")
    func throttling() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            for _ in 0..<2 {
                #expect(try await rpcError { _ = try await h.signIn(password: "wrong password!") }.code == .unauthenticated)
            }
            let third = try await rpcError { _ = try await h.signIn(password: "wrong password!") }
            #expect(third.code == .resourceExhausted)
            #expect(third.message.contains("try again"))
            // Even the right password is refused while blocked, by a new instance of the service.
            let restarted = try await h.restartedClient()
            #expect(try await rpcError { _ = try await h.signIn(client: restarted) }.code == .resourceExhausted)
            // An unknown email is throttled the same way.
            for _ in 0..<2 { _ = try? await h.signIn(email: "nobody@example.com") }
            #expect(try await rpcError { _ = try await h.signIn(email: "nobody@example.com") }.code == .resourceExhausted)
            try await Task.sleep(for: .milliseconds(2_300))
            _ = try await h.signIn(client: restarted)
            let rows = try await h.pool.query("SELECT count(*) FROM login_failures WHERE email_key = 'ada@example.com'")
            #expect(try rows[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test("a successful sign-in resets the failure count")
    func successResetsFailures() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            _ = try? await h.signIn(password: "wrong password!")
            _ = try? await h.signIn(password: "wrong password!")
            _ = try await h.signIn()
            _ = try? await h.signIn(password: "wrong password!")
            _ = try? await h.signIn(password: "wrong password!")
            _ = try await h.signIn()
        }
    }

    @Test("a hash made with weaker parameters is replaced at the next successful sign-in")
    func rehash() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            let before = try await h.pool.query("SELECT password_hash FROM users")[0].decode(0, as: String.self)
            let stronger = PasswordHasher(parameters: .init(iterations: 2, memoryBytes: 16 * 1024))
            #expect(stronger.needsRehash(before))
            let upgraded = try await h.restartedClient(hasher: stronger)
            _ = try await h.signIn(client: upgraded)
            let after = try await h.pool.query("SELECT password_hash FROM users")[0].decode(0, as: String.self)
            #expect(after != before)
            #expect(!stronger.needsRehash(after))
            _ = try await h.signIn(client: upgraded)
        }
    }

    @Test("the current user is the one the token names")
    func currentUser() async throws {
        try await UsersTestHarness.with { h in
            let ada = try await h.createUser()
            _ = try await h.createUser(email: "grace@example.com", fullName: "Grace Hopper")
            let token = try await h.signIn().accessToken
            let me = try await h.client.getCurrentUser(GetCurrentUserRequest(), options: bearer(token))
            #expect(me == ada)
        }
    }

    @Test("a profile update changes only the fields in the mask, and only the caller's")
    func updateProfile() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            let grace = try await h.createUser(email: "grace@example.com", fullName: "Grace Hopper")
            let token = try await h.signIn().accessToken
            var request = UpdateProfileRequest()
            request.profile = ProfileUpdate()
            request.profile?.fullName = "Augusta Ada King"
            request.updateMask = Google_Protobuf_FieldMask(paths: ["full_name"])
            let updated = try await h.client.updateProfile(request, options: bearer(token))
            #expect(updated.fullName == "Augusta Ada King")
            let graceToken = try await h.signIn(email: "grace@example.com").accessToken
            let graceNow = try await h.client.getCurrentUser(GetCurrentUserRequest(), options: bearer(graceToken))
            #expect(graceNow == grace)
        }
    }

    @Test("a profile update needs a mask naming changeable fields, and a valid name")
    func invalidUpdate() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            let token = try await h.signIn().accessToken
            var request = UpdateProfileRequest()
            request.profile = ProfileUpdate()
            request.profile?.fullName = "New Name"
            let noMask = try await rpcError { _ = try await h.client.updateProfile(request, options: bearer(token)) }
            #expect(noMask.code == .invalidArgument)
            request.updateMask = Google_Protobuf_FieldMask(paths: ["email", "full_name"])
            let badPath = try await rpcError { _ = try await h.client.updateProfile(request, options: bearer(token)) }
            #expect(badPath.message.contains("email"))
            request.updateMask?.paths = ["full_name"]
            request.profile?.fullName = "line\nbreak"
            let badName = try await rpcError { _ = try await h.client.updateProfile(request, options: bearer(token)) }
            #expect(badName.message.contains("profile.full_name"))
            let me = try await h.client.getCurrentUser(GetCurrentUserRequest(), options: bearer(token))
            #expect(me.fullName == "Ada Lovelace")
        }
    }

    @Test("calls that need a user are UNAUTHENTICATED with any kind of bad token")
    func badTokens() async throws {
        try await UsersTestHarness.with { h in
            let user = try await h.createUser()
            let good = try await h.signIn().accessToken
            let otherKey = try SigningKey.generate(id: "users-test")
            let forged = TokenIssuer(key: otherKey, issuer: UsersTestHarness.issuer).issue(subject: user.id).token
            let expired = TokenIssuer(key: h.userKey, issuer: UsersTestHarness.issuer)
                .issue(subject: user.id, now: UnixTime(seconds: UnixTime.now.seconds - 3600)).token
            let wrongIssuer = TokenIssuer(key: h.userKey, issuer: "elsewhere").issue(subject: user.id).token
            let service = ServiceCredentials.issue(caller: "souk-orders", callee: "souk-users", key: h.serviceKey)
            let parts = good.split(separator: ".")
            let algNone = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoidXNlcnMtdGVzdCJ9.\(parts[1])."
            for token in [forged, expired, wrongIssuer, service, algNone, good + "x", "garbage", ""] {
                let error = try await rpcError {
                    _ = try await h.client.getCurrentUser(GetCurrentUserRequest(), options: bearer(token))
                }
                #expect(error.code == .unauthenticated, "token \(token.prefix(20))")
            }
            let none = try await rpcError { _ = try await h.client.getCurrentUser(GetCurrentUserRequest()) }
            #expect(none.code == .unauthenticated)
        }
    }

    @Test("GetUser answers a service credential, and refuses a user's token")
    func internalLookup() async throws {
        try await UsersTestHarness.with { h in
            let user = try await h.createUser()
            var request = GetUserRequest()
            request.userId = user.id
            let found = try await h.client.getUser(request, options: h.serviceCredential())
            #expect(found.user == user)
            let token = try await h.signIn().accessToken
            let withUserToken = try await rpcError { _ = try await h.client.getUser(request, options: bearer(token)) }
            #expect(withUserToken.code == .permissionDenied)
            #expect(withUserToken.message.contains("service credential"))
            let anonymous = try await rpcError { _ = try await h.client.getUser(request) }
            #expect(anonymous.code == .unauthenticated)
            request.userId = UUID().uuidString
            #expect(try await rpcError { _ = try await h.client.getUser(request, options: h.serviceCredential()) }.code == .notFound)
            request.userId = "'; DROP TABLE users; --"
            #expect(try await rpcError { _ = try await h.client.getUser(request, options: h.serviceCredential()) }.code == .invalidArgument)
        }
    }


    @Test("GetUser refuses a service credential made for another service, one with no audience, and one valid too long")
    func serviceCredentialAudience() async throws {
        try await UsersTestHarness.with { h in
            let user = try await h.createUser()
            var request = GetUserRequest()
            request.userId = user.id
            let forOrders = try await rpcError { _ = try await h.client.getUser(request, options: h.serviceCredential(callee: "souk-orders")) }
            #expect(forOrders.code == .unauthenticated && forOrders.message.contains("for souk-orders, not souk-users"), "\(forOrders)")
            let noAudience = TokenIssuer(key: h.serviceKey, issuer: ServiceCredentials.issuer, lifetime: .seconds(60))
                .issue(subject: "souk-orders", kind: .service).token
            #expect(try await rpcError { _ = try await h.client.getUser(request, options: bearer(noAudience)) }.code == .unauthenticated)
            let longLived = TokenIssuer(key: h.serviceKey, issuer: ServiceCredentials.issuer, lifetime: .seconds(3600))
                .issue(subject: "souk-orders", kind: .service, audience: "souk-users").token
            let tooLong = try await rpcError { _ = try await h.client.getUser(request, options: bearer(longLived)) }
            #expect(tooLong.code == .unauthenticated && tooLong.message.contains("longer than"), "\(tooLong)")
            _ = try await h.client.getUser(request, options: h.serviceCredential())
        }
    }
    @Test("a disabled user cannot sign in, and GetUser says it is disabled")
    func disabledUser() async throws {
        try await UsersTestHarness.with { h in
            let user = try await h.createUser()
            _ = try await h.pool.execute("UPDATE users SET status = 'disabled'")
            #expect(try await rpcError { _ = try await h.signIn() }.code == .permissionDenied)
            var request = GetUserRequest()
            request.userId = user.id
            #expect(try await h.client.getUser(request, options: h.serviceCredential()).status == .disabled)
        }
    }

    @Test("hostile strings are stored verbatim")
    func hostileInput() async throws {
        try await UsersTestHarness.with { h in
            let name = "Robert'); DROP TABLE users;-- \\ \" $1"
            let user = try await h.createUser(email: "o'reilly+x@example.com", fullName: name)
            #expect(user.fullName == name)
            let token = try await h.signIn(email: "o'reilly+x@example.com").accessToken
            #expect(try h.configuration.userTokens.verify(token, kind: .user).subject == user.id)
        }
    }
}
