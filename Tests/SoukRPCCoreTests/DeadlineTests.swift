import SoukProtobuf
import SoukRPCCore
import TestContracts
import Testing

@Suite("Deadlines, cancellation and what nested calls inherit")
struct DeadlineTests {
    let observed = Observed()

    /// A `before` hook that waits far longer than any test and records the cancellation that ends the wait.
    func sleepUntilCancelled(_ observed: Observed) -> @Sendable (ServerContext) async throws -> Void {
        { _ in
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                observed.recordCancellation()
                throw error
            }
        }
    }

    @Test("a handler still running at the timeout ends the call with DEADLINE_EXCEEDED, promptly")
    func timeoutEndsCall() async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: [
            EchoHandler(observed: observed, before: sleepUntilCancelled(observed)),
        ]))
        let start = ContinuousClock.now
        let error = try await #require(throws: RPCError.self) {
            try await client.echo(EchoRequest(), options: .timeout(.milliseconds(50)))
        }
        let elapsed = ContinuousClock.now - start
        #expect(error.code == .deadlineExceeded)
        #expect(error.message.contains("/souk.test.v1.EchoService/Echo"))
        #expect(elapsed >= .milliseconds(50))
        #expect(elapsed < .seconds(10), "the handler would have slept 30 s")
    }

    @Test("the handler's task is cancelled at the deadline and has finished when the call returns")
    func handlerSeesCancellation() async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: [
            EchoHandler(observed: observed, before: sleepUntilCancelled(observed)),
        ]))
        _ = try await #require(throws: RPCError.self) {
            try await client.getEcho(GetEchoRequest(), options: .timeout(.milliseconds(50)))
        }
        #expect(observed.sawCancellation)
    }

    @Test("the handler sees the call's deadline in context.deadline")
    func handlerSeesDeadline() async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: [EchoHandler(observed: observed)]))
        let before = ContinuousClock.now
        _ = try await client.echo(EchoRequest(), options: .timeout(.seconds(10)))
        let after = ContinuousClock.now
        let deadline = try #require(observed.onlyContext?.deadline)
        #expect(deadline >= before + .seconds(10))
        #expect(deadline <= after + .seconds(10))
    }

    @Test("a handler that answers before the deadline answers normally")
    func answerBeforeDeadline() async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: [
            EchoHandler(observed: observed) { _ in try await Task.sleep(for: .milliseconds(5)) },
        ]))
        let request = Samples.echoRequest()
        #expect(try await client.echo(request, options: .timeout(.seconds(10))) == EchoResponse(echoing: request))
        #expect(!observed.sawCancellation)
    }

    @Test("an RPCError thrown before the deadline wins over the deadline")
    func errorBeforeDeadline() async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: [
            EchoHandler { _ in throw RPCError(.notFound, "no echo 42") },
        ]))
        let error = try await #require(throws: RPCError.self) {
            try await client.echo(EchoRequest(), options: .timeout(.seconds(10)))
        }
        #expect(error == RPCError(.notFound, "no echo 42"))
    }

    @Test("a call whose timeout is already over ends with DEADLINE_EXCEEDED without running the handler",
          arguments: [Duration.zero, .milliseconds(-1), .seconds(-3600)])
    func expiredTimeout(timeout: Duration) async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: [EchoHandler(observed: observed)]))
        let error = try await #require(throws: RPCError.self) {
            try await client.echo(EchoRequest(), options: .timeout(timeout))
        }
        #expect(error.code == .deadlineExceeded)
        #expect(error.message.contains("/souk.test.v1.EchoService/Echo"))
        #expect(observed.calls.isEmpty)
    }

    @Test("a call made inside a handler whose deadline has passed ends with DEADLINE_EXCEEDED without running")
    func expiredInheritedDeadline() async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: [EchoHandler(observed: observed)]))
        let serving = ServerContext(method: EchoService.Methods.echo, deadline: .now - .seconds(1))
        let error = try await ServerContext.$current.withValue(serving) {
            try await #require(throws: RPCError.self) { try await client.internalEcho(EchoRequest()) }
        }
        #expect(error.code == .deadlineExceeded)
        #expect(observed.calls.isEmpty)
    }

    @Test("a caller that cancels its call ends it with CANCELLED, not DEADLINE_EXCEEDED, and the handler is cancelled",
          arguments: [Duration?.none, .seconds(30)])
    func callerCancels(timeout: Duration?) async throws {
        let started = AsyncStream<Void>.makeStream()
        let client = EchoService.Client(transport: InProcessTransport(services: [
            EchoHandler(observed: observed) { _ in
                started.continuation.yield()
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    self.observed.recordCancellation()
                    throw error
                }
            },
        ]))
        let call = Task { try await client.echo(EchoRequest(), options: CallOptions(timeout: timeout)) }
        for await _ in started.stream { break }
        call.cancel()
        let error = try await #require(throws: RPCError.self) { try await call.value }
        #expect(error.code == .cancelled)
        #expect(observed.sawCancellation)
    }

    // MARK: Nested calls

    /// An outer EchoService whose `Echo` calls `InternalEcho` of an inner one through a generated client.
    func relay(outer: Observed, inner: Observed,
               innerBefore: @escaping @Sendable (ServerContext) async throws -> Void = { _ in })
        -> EchoService.Client
    {
        let downstream = EchoService.Client(transport: InProcessTransport(services: [
            EchoHandler(observed: inner, before: innerBefore),
        ]))
        return EchoService.Client(transport: InProcessTransport(services: [
            EchoHandler(observed: outer, downstream: downstream),
        ]))
    }

    @Test("a call made inside a handler inherits the remaining deadline without the handler passing it")
    func nestedCallInheritsDeadline() async throws {
        let inner = Observed()
        let client = relay(outer: observed, inner: inner)
        let request = Samples.echoRequest()
        #expect(try await client.echo(request, options: .timeout(.seconds(20))) == EchoResponse(echoing: request))
        let outerDeadline = try #require(observed.onlyContext?.deadline)
        let innerDeadline = try #require(inner.onlyContext?.deadline)
        #expect(innerDeadline <= outerDeadline)
        #expect(inner.onlyContext?.method == EchoService.Methods.internalEcho)
    }

    @Test("a nested call's own longer timeout does not outlive the handler's deadline")
    func nestedTimeoutIsCapped() async throws {
        let serving = ServerContext(method: EchoService.Methods.echo, deadline: .now + .seconds(5))
        let options = CallOptions.timeout(.seconds(60))
        let deadline = ServerContext.$current.withValue(serving) { options.deadline() }
        #expect(deadline == serving.deadline)
    }

    @Test("a nested call's own shorter timeout applies")
    func nestedShorterTimeout() async throws {
        let serving = ServerContext(method: EchoService.Methods.echo, deadline: .now + .seconds(60))
        let now = ContinuousClock.now
        let deadline = ServerContext.$current.withValue(serving) { CallOptions.timeout(.seconds(1)).deadline(now: now) }
        #expect(deadline == now + .seconds(1))
    }

    @Test("the handler's deadline ends a nested call that outlives it")
    func nestedCallEndsAtOuterDeadline() async throws {
        let inner = Observed()
        let client = relay(outer: observed, inner: inner, innerBefore: sleepUntilCancelled(inner))
        let start = ContinuousClock.now
        let error = try await #require(throws: RPCError.self) {
            try await client.echo(EchoRequest(), options: .timeout(.milliseconds(50)))
        }
        #expect(error.code == .deadlineExceeded)
        #expect(ContinuousClock.now - start < .seconds(10))
        // On a loaded machine the deadline may pass before the nested call starts, and then
        // its handler never runs; a nested handler that did start must have been cancelled.
        #expect(inner.calls.isEmpty || inner.sawCancellation)
    }

    @Test("a nested call carries traceparent, tracestate and x-request-id on, but no other metadata")
    func nestedCallInheritsTraceMetadata() async throws {
        let inner = Observed()
        let client = relay(outer: observed, inner: inner)
        let sent = Metadata([
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "souk=1",
            "X-Request-ID": "req-7",
            "authorization": "Bearer user-token",
            "x-tenant": "acme",
        ])
        _ = try await client.echo(EchoRequest(), options: CallOptions(metadata: sent))
        let received = try #require(inner.onlyContext?.metadata)
        #expect(received["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(received["tracestate"] == "souk=1")
        #expect(received["x-request-id"] == "req-7")
        #expect(received["authorization"] == nil)
        #expect(received["x-tenant"] == nil)
        #expect(received.count == 3)
    }

    @Test("metadata a nested call sets itself wins over the inherited value")
    func nestedOwnMetadataWins() async throws {
        let serving = ServerContext(method: EchoService.Methods.echo,
                                    metadata: Metadata(["x-request-id": "outer", "traceparent": "t"]))
        let options = CallOptions(metadata: Metadata(["X-Request-Id": "inner"]))
        let outgoing = ServerContext.$current.withValue(serving) { options.outgoingMetadata() }
        #expect(outgoing.values(for: "x-request-id") == [.text("inner")])
        #expect(outgoing["traceparent"] == "t")
    }

    @Test("a call made outside any handler carries only its own metadata")
    func topLevelOutgoingMetadata() {
        let options = CallOptions(metadata: Metadata(["a": "1"]))
        #expect(options.outgoingMetadata() == Metadata(["a": "1"]))
        #expect(options.deadline() == nil)
        #expect(CallOptions.defaults.deadline() == nil)
    }
}
