import Logging
import MetricsTestKit
import NIOCore
import NIOEmbedded
import NIOPosix
import SoukProtobuf
@testable import SoukRPC
import SoukRPCCore
import SoukWire
import TestContracts
import Synchronization
import Testing

/// The server against clients that do not play fair: they never read, hold
/// partial frames, open many connections, half-close, or provoke huge errors.
/// (PROTOCOL.md section 9 states the limits these tests hold the server to;
/// Clients/python/tests/test_hostile_clients.py measures the real process's RSS.)
@Suite("Hostile clients")
struct HostileClientTests {
    private func unaryCall(id: UInt64, responseSize: Int32 = 0, sleepMs: Int32 = 0, payload: [UInt8] = []) throws -> ByteBuffer {
        var request = simpleRequest(payload: payload, sleepMs: sleepMs)
        request.responseSize = responseSize
        return try Frames.request(id: id, request, method: InteropService.Methods.unaryCall)
    }

    private func core(_ configuration: RPCServer.Configuration = .init()) -> ServerCore {
        var logger = Logger(label: "test.server")
        logger.logLevel = .critical
        return ServerCore(services: [InteropHandler()], health: HealthProvider(), configuration: configuration, logger: logger)
    }

    @Test("a closed connection releases its handler, its partial frame and the bytes it counted")
    func closedConnectionKeepsNothing() throws {
        let core = core()
        weak var released: ServerConnectionHandler?
        do {
            let channel = EmbeddedChannel()
            let handler = ServerConnectionHandler(core: core, eventLoop: channel.eventLoop, peerAddress: "127.0.0.1")
            released = handler
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            // 200 KB of a 1 MB request: more than the 64 KiB each connection holds uncounted.
            var partial = try unaryCall(id: 1, payload: [UInt8](repeating: 7, count: 1_000_000))
            try channel.writeInbound(partial.readSlice(length: 200_000)!)
            #expect(core.budgets.incompleteBytes >= 200_000)
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
        #expect(released == nil, "the handler outlived its channel (a reference cycle through its context)")
        #expect(core.budgets.incompleteBytes == 0)
    }

    @Test("incomplete frames past the server-wide budget close the connection that would pass it, not the others")
    func incompleteFrameBudget() async throws {
        let configuration = RPCServer.Configuration(maxIncompleteFrameBytes: 3 * 1024 * 1024)
        try await withServer(configuration: configuration) { server, port in
            let frame = try unaryCall(id: 1, payload: [UInt8](repeating: 1, count: 2 * 1024 * 1024 - 64))
            let first = try await RawConnection.connect(port: port)
            try await first.send(Preface.bytes)
            try await first.send(frame.getSlice(at: 0, length: 1_600_000)!)
            try await first.expectServerPreface()
            while server.core.budgets.incompleteBytes < 1_600_000 { try await Task.sleep(for: .milliseconds(5)) }

            let second = try await RawConnection.connect(port: port)
            try await second.send(Preface.bytes)
            try? await second.send(frame.getSlice(at: 0, length: 1_600_000)!)
            try await second.expectServerPreface()
            let refusal = try await within(5) { try await second.nextFrame() }
            guard case .goAway(let goAway)? = refusal else {
                Issue.record("expected GOAWAY, got \(String(describing: refusal?.kindName))")
                return
            }
            #expect(goAway.code == RPCStatusCode.resourceExhausted.rawValue)
            #expect(goAway.reason.contains("too many incomplete frames"))
            await second.close()

            // The first connection's frame was kept: its call completes.
            try await first.send(frame.getSlice(at: 1_600_000, length: frame.readableBytes - 1_600_000)!)
            let answer = try await within(5) { try await first.nextFrame() }
            guard case .response(let head, _)? = answer else {
                Issue.record("expected the answer, got \(String(describing: answer?.kindName))")
                return
            }
            #expect(head.callID == 1 && head.code == 0)
            await first.close()
            try await waitUntil { server.core.budgets.incompleteBytes == 0 }
        }
    }

    @Test("a client that never reads stops being read: its unread answers stay under the limit, the rest are answered RESOURCE_EXHAUSTED, none is lost")
    func unreadAnswers() async throws {
        let configuration = RPCServer.Configuration(maxUnsentBytesPerConnection: 4 * 1024 * 1024)
        try await withServer(configuration: configuration) { server, port in
            let deaf = try await RawConnection.connect(port: port, reading: false)
            var burst = ByteBuffer(bytes: Preface.bytes)
            let calls = 100
            for id in 1...calls {
                var frame = try unaryCall(id: UInt64(id), responseSize: 1_000_000)
                burst.writeBuffer(&frame)
            }
            deaf.sendWithoutWaiting(burst)
            try await Task.sleep(for: .milliseconds(500))
            #expect(server.core.budgets.unsentBytes <= 4 * 1024 * 1024 + 1_100_000)

            // Another client is served meanwhile.
            try await withClient(port: port) { client in
                var request = SimpleRequest()
                request.payload = [1, 2, 3]
                let response = try await within(5) { [request] in try await InteropService.Client(transport: client).unaryCall(request) }
                #expect(response.payload == [1, 2, 3])
            }

            try await deaf.startReading()
            try await deaf.expectServerPreface()
            var answered = 0
            var refused = 0
            while answered + refused < calls {
                guard case .response(let head, _)? = try await within(10, "a frame", { try await deaf.nextFrame() }) else {
                    Issue.record("the connection ended after \(answered + refused) answers")
                    break
                }
                if head.code == 0 {
                    answered += 1
                } else {
                    #expect(head.code == RPCStatusCode.resourceExhausted.rawValue)
                    #expect(head.message.contains("not read yet"), "\(head.message)")
                    refused += 1
                }
            }
            #expect(answered >= 4 && refused > 0)
            await deaf.close()
            try await waitUntil { server.core.budgets.unsentBytes == 0 }
        }
    }

    @Test("a client that sends pings and never reads the pongs stops being read")
    func unreadPongs() async throws {
        try await withServer { server, port in
            let deaf = try await RawConnection.connect(port: port, reading: false)
            // 2^20 pings, about 12 MB: more than the sockets' buffers hold.
            var pings = Frames.ping(42)
            for _ in 0..<20 {
                var copy = pings
                pings.writeBuffer(&copy)
            }
            deaf.sendWithoutWaiting(ByteBuffer(bytes: Preface.bytes))
            deaf.sendWithoutWaiting(pings)
            try await Task.sleep(for: .milliseconds(800))
            // The pongs the server holds: at most what passed the high-water mark in one batch.
            #expect(server.core.budgets.unsentBytes <= 512 * 1024)
            await deaf.close()
        }
    }

    @Test("a client that only pings is ended after 1,024 pings without a call: its pongs, then GOAWAY RESOURCE_EXHAUSTED")
    func tooManyPings() async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port)
            var frames = ByteBuffer(bytes: Preface.bytes)
            var request = try unaryCall(id: 1)
            frames.writeBuffer(&request)
            for payload in 0..<1500 {
                var ping = Frames.ping(UInt64(payload))
                frames.writeBuffer(&ping)
            }
            try await connection.send(frames)
            try await connection.expectServerPreface()
            var pongs = 0
            var answered = false
            var goAway: GoAwayHead?
            while let frame = try await within(5, "a frame", { try await connection.nextFrame() }) {
                switch frame {
                case .pong: pongs += 1
                case .response(let head, _): answered = head.callID == 1
                case .goAway(let head): goAway = head
                default: Issue.record("unexpected \(frame.kindName)")
                }
            }
            #expect(answered, "the call before the pings is answered")
            #expect(pongs == ServerConnectionHandler.maxPingsWithoutCall)
            #expect(goAway?.code == RPCStatusCode.resourceExhausted.rawValue && goAway?.reason.contains("too many pings") == true,
                    "\(String(describing: goAway))")
            await connection.close()
        }
    }

    @Test("connections from one address beyond the per-peer limit are refused with GOAWAY RESOURCE_EXHAUSTED naming it")
    func perPeerLimit() async throws {
        try await withServer(configuration: .init(maxConnectionsPerPeer: 2)) { server, port in
            let first = try await RawConnection.connect(port: port)
            let second = try await RawConnection.connect(port: port)
            try await waitUntil { server.core.connectionCount == 2 }
            let third = try await RawConnection.connect(port: port)
            try? await third.send(Preface.bytes)
            try await third.expectServerPreface()
            guard case .goAway(let goAway)? = try await within(5, "a frame", { try await third.nextFrame() }) else {
                Issue.record("expected GOAWAY")
                return
            }
            #expect(goAway.code == RPCStatusCode.resourceExhausted.rawValue)
            #expect(goAway.reason == "too many connections from 127.0.0.1: this server accepts 2 from one address")
            await third.close()

            // A slot freed is a slot again.
            await first.close()
            try await waitUntil { server.core.connectionCount == 1 }
            try await withClient(port: port) { client in
                _ = try await InteropService.Client(transport: client).emptyCall(InteropEmpty())
            }
            await second.close()
        }
    }

    @Test("a client sending one byte a tick, or only pings, is idle all the same: GOAWAY idle")
    func slowBytesDoNotKeepAConnection() async throws {
        try await withServer(configuration: .init(idleTimeout: .milliseconds(300))) { _, port in
            let frame = try unaryCall(id: 1, payload: [UInt8](repeating: 1, count: 1000))
            let slow = try await RawConnection.connect(port: port)
            let pinging = try await RawConnection.connect(port: port)
            for connection in [slow, pinging] {
                try await connection.send(Preface.bytes)
                try await connection.expectServerPreface()
            }
            let trickle = Task {
                for index in 0..<40 {
                    try await slow.send(frame.getSlice(at: index, length: 1)!)
                    try await pinging.send(Frames.ping(UInt64(index)))
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            for connection in [slow, pinging] {
                var goAway: GoAwayHead?
                while goAway == nil {
                    guard let next = try await within(3, "a frame", { try await connection.nextFrame() }) else { break }
                    if case .goAway(let head) = next { goAway = head }
                }
                #expect(goAway?.code == 0 && goAway?.reason == "idle")
            }
            trickle.cancel()
            await slow.close()
            await pinging.close()
        }
    }

    @Test("a client that half-closes after sending its calls gets every answer, then the server closes")
    func halfClose() async throws {
        for execution in [RPCServer.HandlerExecution.globalPool, .eventLoop] {
            try await withServer(configuration: .init(handlerExecution: execution)) { _, port in
                let connection = try await RawConnection.connect(port: port)
                var frames = ByteBuffer(bytes: Preface.bytes)
                for id in 1...3 {
                    var frame = try unaryCall(id: UInt64(id), sleepMs: 50 * Int32(id), payload: [UInt8(id)])
                    frames.writeBuffer(&frame)
                }
                try await connection.send(frames)
                try await connection.closeOutput()
                try await connection.expectServerPreface()
                var answered: Set<UInt64> = []
                while let frame = try await within(5, "a frame", { try await connection.nextFrame() }) {
                    if case .response(let head, _) = frame, head.code == 0 { answered.insert(head.callID) }
                }
                #expect(answered == [1, 2, 3], "\(execution)")
                await connection.close()
            }
        }
    }

    @Test("a response whose frame is exactly the frame limit is sent; one byte more is RESOURCE_EXHAUSTED")
    func responseAtTheFrameLimit() async throws {
        let limit = 64 * 1024
        try await withServer(configuration: .init(limits: FrameLimits(maxFrameLength: limit))) { _, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                // frame_length = 4 + header (4 bytes for call id 1..127) + payload; SimpleResponse.payload
                // takes a tag and a 3-byte length: 65,524 payload bytes make a frame of exactly 65,536.
                var request = SimpleRequest()
                request.responseSize = 65_524
                let fits = try await interop.unaryCall(request)
                #expect(fits.payload.count == 65_524)
                request.responseSize = 65_525
                let error = await expectRPCError(.resourceExhausted) { try await interop.unaryCall(request) }
                #expect(error?.message.contains("65537 bytes") == true, "\(String(describing: error))")
            }
        }
    }

    @Test("an error larger than its bounds is cut: message, violations and metadata, saying what was left out")
    func hugeErrorsAreBounded() async throws {
        var violations = FieldViolations()
        for index in 0..<10_000 { violations.add("items[\(index)].sku", String(repeating: "x", count: 100)) }
        var error = violations.error
        error.message += String(repeating: "é", count: 300_000)
        for index in 0..<100 { error.metadata.append("x-echo-\(index)", String(repeating: "v", count: 8000)) }
        let echo = ScriptedEcho { [error] _, _ in throw error }
        try await withServer(services: [echo]) { _, port in
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            var request = EchoRequest()
            request.id = "1"
            try await connection.send(try Frames.request(id: 1, request, method: EchoService.Methods.echo))
            try await connection.expectServerPreface()
            guard case .response(let head, _)? = try await within(5, "a frame", { try await connection.nextFrame() }) else {
                Issue.record("expected the answer")
                return
            }
            #expect(head.code == RPCStatusCode.invalidArgument.rawValue)
            #expect(head.message.utf8.count <= ErrorBounds.messageBytes)
            #expect(head.message.hasSuffix("(left out: 9900 of 10000 field violations, 98 of 100 trailing metadata entries)"))
            let details = try ErrorDetails(serializedBytes: head.details)
            #expect(details.badRequest?.fieldViolations.count == 100)
            #expect(head.details.count <= ErrorBounds.detailsBytes)
            #expect(head.metadata.count == 2)
            await connection.close()
        }
    }
}

extension HostileClientTests {
    @Test("a client that half-closes and reads slowly still gets the whole of a large answer")
    func halfCloseWithALargeAnswer() async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port, reading: false)
            var frames = ByteBuffer(bytes: Preface.bytes)
            var request = try unaryCall(id: 1, responseSize: 3_000_000)
            frames.writeBuffer(&request)
            try await connection.send(frames)
            try await connection.closeOutput()
            try await Task.sleep(for: .milliseconds(300))  // the answer fills the sockets; the server waits
            try await connection.startReading()
            let received = try await within(10, "the answer and the close", { try await connection.readToEnd() })
            let decoded = SoukRPCFraming.decodeAll(received, limits: FrameLimits(maxFrameLength: 64 << 20), expectPreface: true)
            #expect(decoded.preface == "souk v1" && decoded.frames == ["response"] && decoded.error == nil && decoded.incompleteBytes == 0,
                    "\(decoded), \(received.count) bytes")
            await connection.close()
        }
    }

    @Test("trailing metadata that would make an answer's header pass the header limit is RESOURCE_EXHAUSTED, and the connection goes on")
    func oversizedSuccessMetadata() async throws {
        let echo = ScriptedEcho { request, context in
            for index in 0..<10 { context.trailingMetadata.append("x-big-\(index)", String(repeating: "m", count: 8000)) }
            var response = EchoResponse()
            response.id = request.id
            return response
        }
        try await withServer(services: [echo]) { _, port in
            try await withClient(port: port) { client in
                let error = await expectRPCError(.resourceExhausted) { try await EchoService.Client(transport: client).echo(echoRequest("hi")) }
                #expect(error?.message.contains("header") == true, "\(String(describing: error))")
                _ = try await EchoService.Client(transport: client).getEcho(GetEchoRequest())
            }
        }
    }

    @Test("more than 100 violations are cut to 100 even when the details are small, saying how many were left out")
    func manySmallViolations() throws {
        var violations = FieldViolations()
        for index in 0..<150 { violations.add("f\(index)", "x") }
        let bounded = violations.error.boundedForWire()
        #expect(try ErrorDetails(serializedBytes: bounded.details).badRequest?.fieldViolations.count == 100)
        #expect(bounded.message.hasSuffix("(left out: 50 of 150 field violations)"))
        var one = FieldViolations()
        one.add("email", "is required")
        #expect(one.error.boundedForWire() == one.error, "an error within the bounds is sent as it is")
    }

    @Test("protocol errors are all counted, but logged at most 5 lines a second however many a client causes")
    func protocolErrorLogIsRateLimited() {
        let metrics = TestMetrics()
        let lines = LineCount()
        let reporter = ProtocolErrorReporter(logger: Logger(label: "test") { _ in lines }, factory: metrics)
        for index in 0..<1000 {
            reporter.report(FramingError(.invalidArgument, "call_id \(index) is invalid"), peer: "127.0.0.1:\(index)")
        }
        #expect(metrics.counterTotal(label: "souk_rpc_server_protocol_errors_total", dimensions: [("code", "INVALID_ARGUMENT")]) == 1000)
        #expect(lines.count >= 1 && lines.count <= ProtocolErrorReporter.linesPerSecond)
    }
}

/// Counts log lines.
final class LineCount: LogHandler, Sendable {
    private let lines = Mutex(0)
    var count: Int { lines.withLock { $0 } }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    func log(event: LogEvent) { lines.withLock { $0 += 1 } }
}

/// Polls `condition` until it holds, failing after `seconds`.
func waitUntil(_ seconds: Double = 5, _ condition: @escaping @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("the condition did not hold within \(seconds) s")
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
