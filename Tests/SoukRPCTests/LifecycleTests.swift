import Logging
import Metrics
import MetricsTestKit
import NIOCore
import NIOPosix
import SoukProtobuf
@testable import SoukRPC
import SoukRPCCore
import SoukWire
import Synchronization
import TestContracts
import Testing

/// Shutdown, failures and reconnection.
@Suite("Connection lifecycle", .timeLimit(.minutes(1)))
struct LifecycleTests {
    @Test("a graceful shutdown under load loses no call: each is answered, or refused before it ran and retried")
    func drainDuringLoad() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let first = RPCServer(services: [InteropHandler()], configuration: .init(shutdownGracePeriod: .seconds(5)), logger: logger)
        let firstRun = Task { try await first.run() }
        let port = try await first.listeningAddress.port!
        // Two replicas: when one drains, refused calls are retried on the other.
        let second = RPCServer(services: [InteropHandler()], logger: logger)
        let secondRun = Task { try await second.run() }
        let secondPort = try await second.listeningAddress.port!

        let client = RPCClient(endpoints: [.init(host: "127.0.0.1", port: port), .init(host: "127.0.0.1", port: secondPort)],
                               configuration: .init(maxAttempts: 5))
        let interop = InteropService.Client(transport: client)
        let outcomes = Locked<(ok: Int, unavailable: Int, other: [String])>((0, 0, []))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<400 {
                group.addTask {
                    try await Task.sleep(for: .milliseconds(index))
                    do {
                        let payload = Array("\(index)".utf8)
                        let response = try await interop.unaryCall(simpleRequest(payload: payload, sleepMs: 50))
                        #expect(response.payload == payload)
                        outcomes.withLock { $0.ok += 1 }
                    } catch let error as RPCError where error.code == .unavailable {
                        outcomes.withLock { $0.unavailable += 1 }
                    } catch {
                        outcomes.withLock { $0.other.append("\(error)") }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(150))
                first.beginGracefulShutdown()
            }
            try await group.waitForAll()
        }
        let result = outcomes.withLock { $0 }
        #expect(result.other.isEmpty, "\(result.other.prefix(3))")
        // Every accepted call was answered; refused ones went to the other replica.
        #expect(result.ok == 400, "ok \(result.ok), unavailable \(result.unavailable)")
        _ = try await within(10) { try await firstRun.value }
        await client.close()
        second.beginGracefulShutdown()
        _ = try await within(10) { try await secondRun.value }
    }

    @Test("a GOAWAY fails the calls above its last call id as never processed, and keeps those below")
    func goAwaySplitsCalls() async throws {
        let echo = ScriptedEcho { request, _ in
            try await Task.sleep(for: .milliseconds(300))
            var response = EchoResponse()
            response.message = request.message
            return response
        }
        try await withServer(services: [echo], configuration: .init(shutdownGracePeriod: .seconds(5))) { server, port in
            try await withClient(port: port, configuration: .init(maxAttempts: 1)) { client in
                let stub = EchoService.Client(transport: client)
                let accepted = Task { try await stub.echo(echoRequest("accepted")) }
                for _ in 0..<200 where echo.observed.started == 0 { try await Task.sleep(for: .milliseconds(5)) }
                server.beginGracefulShutdown()
                try await Task.sleep(for: .milliseconds(50))
                // The accepted call still completes during the drain.
                let answer = try await accepted.value
                #expect(answer.message == "accepted")
                // And new calls find no server: UNAVAILABLE at once, not a hang.
                await expectRPCError(.unavailable) {
                    try await within(5) { try await stub.echo(echoRequest("late")) }
                }
            }
        }
    }

    @Test("a server that dies mid-call leaves its callers with UNAVAILABLE, not a hang")
    func serverKilledMidCall() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = RPCServer(services: [InteropHandler()], logger: logger)
        let running = Task { try await server.run() }
        let port = try await server.listeningAddress.port!
        let client = RPCClient(host: "127.0.0.1", port: port)
        let interop = InteropService.Client(transport: client)
        _ = try await interop.emptyCall(InteropEmpty())
        let call = Task { try await interop.unaryCall(simpleRequest(sleepMs: 10_000)) }
        try await Task.sleep(for: .milliseconds(100))
        server.closeNow()
        let start = ContinuousClock.now
        let error = await expectRPCError(.unavailable) { try await within(5) { try await call.value } }
        #expect(error?.message.contains("127.0.0.1") == true)  // "lost" or "failed: connection reset"
        #expect(ContinuousClock.now - start < .seconds(4))
        _ = try? await running.value
        // Nothing listens now: calls fail fast.
        let failFast = ContinuousClock.now
        await expectRPCError(.unavailable) { try await within(5) { try await interop.emptyCall(InteropEmpty()) } }
        #expect(ContinuousClock.now - failFast < .seconds(3))
        await client.close()
    }

    @Test("the client reconnects once the server is back on its port")
    func reconnectAfterRestart() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = RPCServer(services: [InteropHandler()], logger: logger)
        let running = Task { try await server.run() }
        let port = try await server.listeningAddress.port!
        let client = RPCClient(host: "127.0.0.1", port: port,
                               configuration: .init(reconnectBackoff: .init(initial: .milliseconds(50), maximum: .milliseconds(200))))
        let interop = InteropService.Client(transport: client)
        _ = try await interop.emptyCall(InteropEmpty())
        server.closeNow()
        _ = try? await running.value

        await expectRPCError(.unavailable) { try await interop.emptyCall(InteropEmpty()) }

        let restarted = RPCServer(services: [InteropHandler()], configuration: .init(port: port), logger: logger)
        let runningAgain = Task { try await restarted.run() }
        _ = try await restarted.listeningAddress
        // Within a few backoff periods the client is back.
        var answered = false
        for _ in 0..<50 where !answered {
            do {
                _ = try await interop.emptyCall(InteropEmpty())
                answered = true
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(answered)
        await client.close()
        restarted.beginGracefulShutdown()
        _ = try await within(10) { try await runningAgain.value }
    }

    @Test("a call that may have reached a server is retried elsewhere only when its method is idempotent")
    func idempotentRetry() async throws {
        // A "server" that answers the preface, reads the first frame, then drops the connection.
        let blackHole = try await standInServer { DropAfterFirstFrame() }
        let blackHolePort = blackHole.localAddress!.port!
        try await withServer(services: [ScriptedEcho()]) { _, port in
            let client = RPCClient(endpoints: [.init(host: "127.0.0.1", port: blackHolePort), .init(host: "127.0.0.1", port: port)],
                                   configuration: .init(maxAttempts: 3))
            let stub = EchoService.Client(transport: client)
            var lost = 0
            for index in 0..<6 {
                // `Echo` is not idempotent: a call that went to the black hole is lost.
                do {
                    _ = try await within(5) { try await stub.echo(echoRequest("\(index)")) }
                } catch let error as RPCError {
                    #expect(error.code == .unavailable)
                    lost += 1
                }
                // `InternalEcho` is: it is retried (round robin takes it to the other endpoint) and always succeeds.
                let response = try await within(5) { try await stub.internalEcho(echoRequest("\(index)")) }
                #expect(response.message == "\(index)")
            }
            #expect(lost > 0)
            await client.close()
        }
        try await blackHole.close()
    }

    @Test("the metrics interceptor counts calls by method and code, times them, and tracks calls in flight")
    func metrics() async throws {
        let metrics = TestMetrics()
        let interceptor = MetricsInterceptor(prefix: "souk_rpc_server", factory: metrics)
        try await withServer(configuration: .init(interceptors: [interceptor])) { _, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                _ = try await interop.emptyCall(InteropEmpty())
                _ = try await interop.emptyCall(InteropEmpty())
                await expectRPCError(.notFound) { try await interop.unaryCall(simpleRequest(status: (.notFound, "gone"))) }
            }
        }
        let method = InteropService.Methods.emptyCall.fullName
        #expect(metrics.counterTotal(label: "souk_rpc_server_calls_total", dimensions: [("method", method), ("code", "OK")]) == 2)
        #expect(metrics.counterTotal(label: "souk_rpc_server_calls_total",
                                     dimensions: [("method", InteropService.Methods.unaryCall.fullName), ("code", "NOT_FOUND")]) == 1)
        let timer = try metrics.expectTimer("souk_rpc_server_call_duration_seconds", [("method", method)])
        #expect(timer.values.count == 2)
        let meter = try metrics.expectMeter("souk_rpc_server_calls_in_flight", [("method", method)])
        #expect(meter.lastValue == 0)
    }
}

/// Drops the connection once more than the preface has arrived.
final class DropAfterFirstFrame: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received = 0
    private var answeredPreface = false

    /// Like a Souk server that dies while serving: it answers the preface, reads the first frame, and drops.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        if received >= 8 && !answeredPreface {
            answeredPreface = true
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: Preface.bytes)), promise: nil)
        }
        if received > 8 { context.close(promise: nil) }
    }
}
