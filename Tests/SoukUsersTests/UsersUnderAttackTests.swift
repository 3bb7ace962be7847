import Foundation
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukRPCCore
import SoukUsers
import SoukTestSupport
import Testing

/// What got through when the users service was attacked, each now refused.
@Suite("The users service under attack", .serialized)
struct UsersUnderAttackTests {
    @Test("200 wrong guesses at once: no more than the allowed attempts are checked, and then even the right password waits")
    func concurrentGuesses() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            let codes = try await withThrowingTaskGroup(of: RPCStatusCode.self) { group in
                for guess in 0..<200 {
                    group.addTask {
                        do {
                            _ = try await h.signIn(password: "wrong guess \(guess)")
                            return .ok
                        } catch let error as RPCError {
                            return error.code
                        }
                    }
                }
                return try await group.reduce(into: [RPCStatusCode: Int]()) { $0[$1, default: 0] += 1 }
            }
            // maxFailedSignIns is 3: two guesses answered "wrong", the third locks, every other one refused unchecked.
            #expect(codes[.unauthenticated] == 2, "\(codes)")
            #expect(codes[.resourceExhausted] == 198, "\(codes)")
            let rows = try await h.pool.query("SELECT failures, locked_until IS NOT NULL FROM login_failures WHERE email_key = 'ada@example.com'")
            #expect(try rows[0].decode(0, as: Int32.self) == 3)
            #expect(try rows[0].decode(1, as: Bool.self))
            #expect(try await rpcError { _ = try await h.signIn() }.code == .resourceExhausted)
        }
    }

    @Test("one key per email, computed once: İ (U+0130) is not another spelling of i, and the database's lower() plays no part")
    func oneEmailKey() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser(email: "Iris@Example.com")
            let stored = try await h.pool.query("SELECT email, email_key FROM users")
            #expect(try stored[0].decode(0, as: String.self) == "Iris@Example.com")
            #expect(try stored[0].decode(1, as: String.self) == "iris@example.com")
            // Another case is the same account…
            _ = try await h.signIn(email: "IRIS@example.COM")
            #expect(try await rpcError { _ = try await h.createUser(email: "iris@EXAMPLE.com") }.code == .alreadyExists)
            // …a non-ASCII look-alike is not: no one's address, refused unchecked, and it spends
            // none of the account's attempts.
            for _ in 0..<5 {
                #expect(try await rpcError { _ = try await h.signIn(email: "\u{130}ris@example.com") }.code == .unauthenticated)
            }
            _ = try await h.signIn(email: "iris@example.com")
            #expect(try await h.pool.query("SELECT count(*) FROM login_failures WHERE email_key NOT LIKE 'peer:%'")[0].decode(0, as: Int64.self) == 0)
            // The database refuses a key that does not match its email.
            await #expect(throws: PostgresError.self) {
                _ = try await h.pool.execute("UPDATE users SET email_key = 'someone@else.com'")
            }
        }
    }

    @Test("a disabled account's unexpired token gets PERMISSION_DENIED on every rpc, and changes nothing")
    func disabledAccountsTokens() async throws {
        try await UsersTestHarness.with { h in
            let user = try await h.createUser()
            let token = try await h.signIn().accessToken
            _ = try await h.pool.execute("UPDATE users SET status = 'disabled'")
            let options = bearer(token)
            let current = try await rpcError { _ = try await h.client.getCurrentUser(GetCurrentUserRequest(), options: options) }
            #expect(current.code == .permissionDenied && current.message == "this account is disabled")
            var update = UpdateProfileRequest()
            var profile = ProfileUpdate()
            profile.fullName = "Someone Else"
            update.profile = profile
            var mask = Google_Protobuf_FieldMask()
            mask.paths = ["full_name"]
            update.updateMask = mask
            #expect(try await rpcError { _ = try await h.client.updateProfile(update, options: options) }.code == .permissionDenied)
            let stored = try await h.pool.query("SELECT full_name FROM users WHERE user_id = \(UUID(uuidString: user.id)!)")
            #expect(try stored[0].decode(0, as: String.self) == "Ada Lovelace")
            #expect(try await rpcError { _ = try await h.signIn() }.code == .permissionDenied)
        }
    }

    @Test("sign-up refuses what sign-in would: a password of more than 1,024 bytes within 128 characters")
    func passwordBytes() async throws {
        try await UsersTestHarness.with { h in
            let password = String(repeating: "\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}", count: 60)  // 60 characters, 1,080 bytes
            let error = try await rpcError { _ = try await h.createUser(password: password) }
            #expect(error.code == .invalidArgument && error.message.contains("1024 bytes"), "\(error)")
            #expect(try await h.pool.query("SELECT count(*) FROM users")[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test("a name is counted as the database counts it, before any hashing: 150 characters of 300 code points are refused")
    func nameCountedAsTheDatabaseDoes() async throws {
        try await UsersTestHarness.with { h in
            let name = String(repeating: "e\u{301}", count: 150)
            let error = try await rpcError { _ = try await h.createUser(fullName: name) }
            #expect(error.code == .invalidArgument, "\(error)")
            #expect(error.message.contains("full_name"))
            #expect(try await h.pool.query("SELECT count(*) FROM users")[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test("spraying one password over many accounts from one address is bounded: past the per-peer limit every sign-in waits")
    func sprayingIsBounded() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            var configuration = h.configuration
            configuration.maxFailedSignInsPerPeer = 4
            let handler = try await UsersServiceHandler(database: h.pool, configuration: configuration, logger: UsersTestHarness.logger)
            let client = UsersService.Client(transport: InProcessTransport(services: [handler]))
            for index in 0..<4 {
                let error = try await rpcError { _ = try await h.signIn(email: "victim\(index)@example.com", password: "Summer2026!!", client: client) }
                #expect(error.code == .unauthenticated)
            }
            let fifth = try await rpcError { _ = try await h.signIn(email: "victim4@example.com", password: "Summer2026!!", client: client) }
            #expect(fifth.code == .resourceExhausted && fifth.message.contains("from this address"), "\(fifth)")
            #expect(try await rpcError { _ = try await h.signIn(client: client) }.code == .resourceExhausted)
        }
    }

    @Test("behind the gateway each client has its own per-address budget: the gateway's x-forwarded-for counts, a client's own does not")
    func forwardedClientsAreThrottledApart() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            var configuration = h.configuration
            configuration.maxFailedSignInsPerPeer = 2
            let handler = try await UsersServiceHandler(database: h.pool, configuration: configuration, logger: UsersTestHarness.logger)
            /// A wrong-password sign-in from `peer` (to another account each time, so that no
            /// account's own limit plays a part), with `forwardedFor` as the gateway would send it.
            var attempts = 0
            func signIn(peer: String, forwardedFor: String?) async throws -> RPCStatusCode {
                attempts += 1
                var metadata = Metadata()
                if let forwardedFor { metadata.append("x-forwarded-for", forwardedFor) }
                let context = ServerContext(method: UsersService.Methods.authenticate, metadata: metadata, peer: peer)
                var request = AuthenticateRequest()
                request.email = "victim\(attempts)@example.com"
                request.password = "Summer2026!!"
                return try await rpcError { _ = try await handler.authenticate(request, context: context) }.code
            }
            // One client behind the gateway (127.0.0.1, trusted by default) uses up its budget...
            #expect(try await signIn(peer: "127.0.0.1:40000", forwardedFor: "203.0.113.7") == .unauthenticated)
            #expect(try await signIn(peer: "127.0.0.1:40001", forwardedFor: "203.0.113.7") == .unauthenticated)
            #expect(try await signIn(peer: "127.0.0.1:40002", forwardedFor: "203.0.113.7") == .resourceExhausted)
            // ... and another client behind the same gateway still has its own.
            #expect(try await signIn(peer: "127.0.0.1:40003", forwardedFor: "198.51.100.4") == .unauthenticated)
            // A caller that is not a trusted proxy cannot pick its address: its x-forwarded-for is ignored.
            #expect(try await signIn(peer: "192.0.2.50:1000", forwardedFor: "198.51.100.99") == .unauthenticated)
            #expect(try await signIn(peer: "192.0.2.50:1001", forwardedFor: "198.51.100.98") == .unauthenticated)
            #expect(try await signIn(peer: "192.0.2.50:1002", forwardedFor: "198.51.100.97") == .resourceExhausted)
            let keys = try await h.pool.query("SELECT email_key FROM login_failures WHERE email_key LIKE 'peer:%' ORDER BY 1")
                .map { try $0.decode(0, as: String.self) }
            #expect(keys == ["peer:192.0.2.50", "peer:198.51.100.4", "peer:203.0.113.7"])
        }
    }

    @Test("an address whose last allowed attempt succeeds is not locked: a successful sign-in gives its attempt back")
    func successAtThePeerLimit() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.createUser()
            var configuration = h.configuration
            configuration.maxFailedSignInsPerPeer = 2
            let handler = try await UsersServiceHandler(database: h.pool, configuration: configuration, logger: UsersTestHarness.logger)
            let client = UsersService.Client(transport: InProcessTransport(services: [handler]))
            #expect(try await rpcError { _ = try await h.signIn(email: "victim@example.com", client: client) }.code == .unauthenticated)
            for _ in 0..<3 {
                _ = try await h.signIn(client: client)
            }
        }
    }

    @Test("throttle rows whose window is over and that no lock holds are purged; locked ones stay")
    func expiredThrottleRowsArePurged() async throws {
        try await UsersTestHarness.with { h in
            _ = try await h.pool.execute("""
                INSERT INTO login_failures (email_key, failures, window_started_at, locked_until) VALUES
                    ('stale@example.com', 2, now() - interval '2 hours', NULL),
                    ('expired-lock@example.com', 3, now() - interval '2 hours', now() - interval '1 hour'),
                    ('locked@example.com', 3, now() - interval '2 hours', now() + interval '1 hour')
                """)
            _ = try? await h.signIn(email: "someone@example.com")
            let rows = try await h.pool.query("SELECT email_key FROM login_failures WHERE email_key NOT LIKE 'peer:%' ORDER BY 1")
            #expect(try rows.map { try $0.decode(0, as: String.self) } == ["locked@example.com", "someone@example.com"])
        }
    }
}
