import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SoukContracts
import SoukGateway
import SoukRPCCore
import SoukTestSupport
import Synchronization
import Testing

/// A users service in process that records what reaches it, and can take its time.
final class RecordingUsers: UsersService.Handler, Sendable {
    let seen = Mutex<[(metadata: Metadata, deadline: ContinuousClock.Instant?)]>([])
    let delay: Duration

    init(delay: Duration = .zero) { self.delay = delay }

    func getCurrentUser(_ request: GetCurrentUserRequest, context: ServerContext) async throws -> User {
        seen.withLock { $0.append((context.metadata, context.deadline)) }
        if delay > .zero { try await Task.sleep(for: delay) }
        var user = User()
        user.id = "7b0c5f4e-0d7c-4c0e-9a55-0e4c3f1f2a10"
        user.email = "ada@example.com"
        return user
    }
    func createUser(_ request: CreateUserRequest, context: ServerContext) async throws -> User { throw RPCError(.unimplemented, "") }
    func authenticate(_ request: AuthenticateRequest, context: ServerContext) async throws -> AuthenticateResponse {
        throw RPCError(.unimplemented, "")
    }
    func updateProfile(_ request: UpdateProfileRequest, context: ServerContext) async throws -> User { throw RPCError(.unimplemented, "") }
    func getUser(_ request: GetUserRequest, context: ServerContext) async throws -> GetUserResponse { throw RPCError(.unimplemented, "") }
}

@Suite("What the gateway passes on to a service: credentials, trace context, deadline; and its graceful stop")
struct ForwardingTests {
    /// The gateway on a free port in front of `users` (in process), inside a service group.
    static func with(_ users: RecordingUsers, limits: ConnectionLimits = ConnectionLimits(),
                     configure: (inout Gateway.Configuration) -> Void = { _ in },
                     _ body: (GatewayTestHarness, ServiceGroup) async throws -> Void) async throws {
        var configuration = Gateway.Configuration(services: [UsersService.serviceName: InProcessTransport(services: [users])])
        configure(&configuration)
        let gateway = Gateway(configuration: configuration, logger: TestSchema.logger)
        try await GatewayTestHarness.serve(gateway, limits: limits) { port, group in
            try await body(GatewayTestHarness(port: port), group)
        }
    }

    @Test("Authorization, Idempotency-Key, traceparent, tracestate and X-Request-Id reach the service; Grpc-Timeout is its deadline")
    func forwarded() async throws {
        let users = RecordingUsers()
        try await Self.with(users) { h, _ in
            let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let started = ContinuousClock.now
            let answer = try await h.request("GET", "/v1/users/me", headers: [
                ("Authorization", "Bearer abc"), ("Idempotency-Key", "k-1"), ("traceparent", trace),
                ("tracestate", "vendor=1"), ("X-Request-Id", "req-7"), ("Grpc-Timeout", "3S"),
            ])
            #expect(answer.status == 200 && answer.header("x-request-id") == "req-7")
            let seen = try #require(users.seen.withLock { $0.first })
            #expect(seen.metadata["authorization"] == "Bearer abc" && seen.metadata["idempotency-key"] == "k-1")
            #expect(seen.metadata["traceparent"] == trace && seen.metadata["tracestate"] == "vendor=1")
            #expect(seen.metadata["x-request-id"] == "req-7")
            #expect(seen.metadata["x-forwarded-for"] == "127.0.0.1", "the client's socket address, for per-client throttles")
            let deadline = try #require(seen.deadline)
            #expect(deadline > started + .seconds(2) && deadline <= ContinuousClock.now + .seconds(3))
        }
    }

    @Test("without a trace context (or with a malformed one) the gateway starts a trace; without Grpc-Timeout the deadline is 10 s")
    func created() async throws {
        let users = RecordingUsers()
        try await Self.with(users) { h, _ in
            _ = try await h.request("GET", "/v1/users/me")
            _ = try await h.request("GET", "/v1/users/me", headers: [("traceparent", "00-nonsense")])
            let seen = users.seen.withLock { $0 }
            #expect(seen.count == 2)
            for call in seen {
                let parts = (call.metadata["traceparent"] ?? "").split(separator: "-")
                #expect(parts.count == 4 && parts[0] == "00" && parts[1].count == 32 && parts[2].count == 16 && parts[3] == "01")
                #expect(UUID(uuidString: call.metadata["x-request-id"] ?? "") != nil)
                let remaining = try #require(call.deadline) - ContinuousClock.now
                #expect(remaining > .seconds(8) && remaining <= .seconds(10))
            }
            #expect(seen[0].metadata["traceparent"] != seen[1].metadata["traceparent"])
        }
    }

    @Test("a graceful stop lets the request in flight finish")
    func drains() async throws {
        let users = RecordingUsers(delay: .milliseconds(700))
        try await Self.with(users) { h, group in
            async let answer = h.request("GET", "/v1/users/me")
            while users.seen.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
            await group.triggerGracefulShutdown()
            #expect(try await answer.status == 200)
        }
    }
}
