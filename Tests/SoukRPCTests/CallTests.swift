import NIOCore
import NIOPosix
import SoukProtobuf
@testable import SoukRPC
import SoukRPCCore
import SoukWire
import Synchronization
import TestContracts
import Testing

/// Calls over real sockets on 127.0.0.1, through the generated stubs.
@Suite("Calls over TCP", .timeLimit(.minutes(1)))
struct CallTests {
    @Test("a call round-trips its payload and metadata, on the global pool and on the event loop",
          arguments: [RPCServer.HandlerExecution.globalPool, .eventLoop])
    func roundTrip(execution: RPCServer.HandlerExecution) async throws {
        try await withServer(configuration: .init(handlerExecution: execution)) { _, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                var metadata = Metadata()
                metadata.append("x-request-id", "r-42")
                metadata.append("token-bin", binary: [0, 255, 1])
                metadata.append("x-multi", "a")
                metadata.append("x-multi", "b")
                let response = try await interop.unaryCall(simpleRequest(payload: [1, 2, 3], echoMetadata: true),
                                                           options: CallOptions(metadata: metadata))
                #expect(response.payload == [1, 2, 3])
                #expect(response.echoedMetadata.map(\.key) == ["x-request-id", "token-bin", "x-multi", "x-multi"])
                #expect(response.echoedMetadata[1].value == .binary([0, 255, 1]))
                #expect(response.echoedMetadata[3].value == .text("b"))
                let empty = try await interop.emptyCall(InteropEmpty())
                #expect(empty == InteropEmpty())
            }
        }
    }

    @Test("a large request and response (271,828 and 314,159 bytes) arrive whole")
    func largeUnary() async throws {
        try await withServer { _, port in
            try await withClient(port: port) { client in
                var request = simpleRequest(payload: [UInt8](repeating: 0, count: 271_828))
                request.responseSize = 314_159
                let response = try await InteropService.Client(transport: client).unaryCall(request)
                #expect(response.payload.count == 314_159)
            }
        }
    }

    @Test("1,000 concurrent calls on one connection with random handler delays each get their own answer")
    func thousandCallsOneConnection() async throws {
        try await withServer { server, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<1000 {
                        group.addTask {
                            let payload = Array("call \(index)".utf8)
                            let response = try await interop.unaryCall(simpleRequest(payload: payload, sleepMs: Int32.random(in: 0...20)))
                            #expect(response.payload == payload)
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(server.core.connectionCount == 1)
            }
        }
    }

    @Test("a status from the handler reaches the caller unchanged, special characters and all")
    func statusCodeAndMessage() async throws {
        try await withServer { _, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                let message = "\t\ttest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
                var metadata = Metadata()
                metadata.append("x-echo-trailer", "kept")
                let error = await expectRPCError(.failedPrecondition) {
                    try await interop.unaryCall(simpleRequest(status: (.failedPrecondition, message)), options: CallOptions(metadata: metadata))
                }
                #expect(error?.message == message)
                #expect(error?.metadata["x-echo-trailer"] == "kept")
            }
        }
    }

    @Test("unknown services and methods are UNIMPLEMENTED, naming what is unknown")
    func unimplemented() async throws {
        try await withServer { _, port in
            try await withClient(port: port) { client in
                let method = MethodDescriptor(service: "souk.test.v1.NoSuchService", method: "Call",
                                              inputType: InteropEmpty.protoMessageName, outputType: InteropEmpty.protoMessageName)
                let service = await expectRPCError(.unimplemented) {
                    try await client.unary(InteropEmpty(), method: method, options: .defaults, responseType: InteropEmpty.self)
                }
                #expect(service?.message.contains("souk.test.v1.NoSuchService") == true)
                let missingMethod = MethodDescriptor(service: "souk.test.v1.InteropService", method: "NoSuchMethod",
                                                     inputType: InteropEmpty.protoMessageName, outputType: InteropEmpty.protoMessageName)
                let methodError = await expectRPCError(.unimplemented) {
                    try await client.unary(InteropEmpty(), method: missingMethod, options: .defaults, responseType: InteropEmpty.self)
                }
                #expect(methodError?.message.contains("NoSuchMethod") == true)
            }
        }
    }

    @Test("a payload that is not a valid request is INVALID_ARGUMENT, and the connection goes on")
    func invalidPayload() async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            // Field 1 (bytes) announcing 100 bytes that are not there.
            try await connection.send(Frames.request(id: 1, method: InteropService.Methods.unaryCall.fullName, payload: [0x0a, 100, 1]))
            try await connection.expectServerPreface()
            guard case .response(let head, _)? = try await connection.nextFrame() else {
                Issue.record("expected a response")
                return
            }
            #expect(head.callID == 1)
            #expect(head.code == RPCStatusCode.invalidArgument.rawValue)
            try await connection.expectStillServing(callID: 2)
            await connection.close()
        }
    }

    @Test("request metadata that breaks PROTOCOL.md's rules is INVALID_ARGUMENT naming the entry, and the connection goes on",
          arguments: [
              ("X-Request-Id", Metadata.Value.text("r1"), "X-Request-Id"),
              ("", .text("v"), "key \"\""),
              ("x request", .text("v"), "x request"),
              ("x-\u{1F600}", .text("v"), "x-\\u{0001F600}"),
              (String(repeating: "k", count: 65), .text("v"), "1 to 64"),
              ("trace-bin", .text("v"), "-bin"),
              ("x-plain", .binary([1, 2]), "only keys ending in -bin"),
              ("x-injected", .text("a\r\nauthorization: Bearer x"), "0xD"),
              ("x-unicode", .text("caf\u{E9}"), "printable ASCII"),
              ("x-big", .text(String(repeating: "a", count: 8193)), "8193 bytes"),
              ("x-big-bin", .binary([UInt8](repeating: 0, count: 8193)), "8193 bytes"),
              ("x-nul", .text("a\u{0}b"), "0x0"),
              ("souk-internal", .text("v"), "reserved"),
          ] as [(String, Metadata.Value, String)])
    func invalidMetadata(key: String, value: Metadata.Value, named: String) async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            var metadata = Metadata()
            metadata.append("x-request-id", "fine")
            metadata.appendReceived(key, value)
            try await connection.send(Frames.request(id: 1, method: InteropService.Methods.emptyCall.fullName, metadata: metadata))
            try await connection.expectServerPreface()
            guard case .response(let head, _)? = try await connection.nextFrame() else {
                Issue.record("expected a response")
                return
            }
            #expect(head.callID == 1)
            #expect(head.code == RPCStatusCode.invalidArgument.rawValue)
            #expect(head.message.contains("metadata"), "\(head.message)")
            #expect(head.message.contains(named), "\(head.message)")
            try await connection.expectStillServing(callID: 2)
            await connection.close()
        }
    }

    @Test("metadata that is not UTF-8 is INVALID_ARGUMENT for its call, like every other metadata violation, not a protocol error")
    func metadataThatIsNotUTF8() async throws {
        func field(_ tag: UInt8, _ bytes: [UInt8]) -> [UInt8] { [tag, UInt8(bytes.count)] + bytes }
        let method = Array(InteropService.Methods.emptyCall.fullName.utf8)
        for (key, text) in [(Array("x-bad".utf8), [0x66, 0xFF, 0x6F] as [UInt8]), ([0x78, 0xC3, 0x28], Array("v".utf8))] {
            let request = [0x08, 0x01] + field(0x12, method) + field(0x22, field(0x0A, key) + field(0x12, text))
            let header = field(0x0A, request)
            var frame = ByteBuffer()
            frame.writeInteger(UInt32(4 + header.count))
            frame.writeInteger(UInt32(header.count))
            frame.writeBytes(header)
            try await withServer { [frame] _, port in
                let connection = try await RawConnection.connect(port: port)
                try await connection.send(Preface.bytes)
                try await connection.send(frame)
                try await connection.expectServerPreface()
                guard case .response(let head, _)? = try await connection.nextFrame() else {
                    Issue.record("expected a response")
                    return
                }
                #expect(head.callID == 1 && head.code == RPCStatusCode.invalidArgument.rawValue, "\(head.message)")
                try await connection.expectStillServing(callID: 2)
                await connection.close()
            }
        }
    }

    @Test("callers on the client's event-loop executors make their calls there and resume on their own loop")
    func callersOnClientEventLoops() async throws {
        try await withServer { _, port in
            try await withClient(port: port, configuration: .init(connectionsPerEndpoint: 4)) { client in
                let interop = InteropService.Client(transport: client)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0 ..< 8 {
                        let executor = client.eventLoopExecutor()
                        group.addTask(executorPreference: executor) {
                            for call in 0 ..< 25 {
                                let payload = [UInt8(caller), UInt8(call)]
                                let response = try await interop.unaryCall(simpleRequest(payload: payload))
                                #expect(response.payload == payload)
                                #expect(executor.eventLoop.inEventLoop, "the caller resumed off its event loop")
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test("by default a client keeps a connection per event loop: a caller on a loop whose connection is not up starts it, and its later calls go there")
    func callerStartsItsLoopsConnection() async throws {
        let recorder = PeerRecorder()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        try await withServer(configuration: .init(interceptors: [recorder])) { _, port in
            // The default configuration: one connection per loop of the two-loop group. The first
            // call, from Swift's pool, brings up one of them only.
            let client = RPCClient(host: "127.0.0.1", port: port, eventLoopGroup: group)
            let interop = InteropService.Client(transport: client)
            _ = try await interop.unaryCall(simpleRequest(payload: [0]))
            let first = try #require(recorder.peers.withLock { $0.first })
            // Callers on each loop: the loop without a connection starts its own and, once it
            // is up, calls through it; the other loop keeps calling through the first.
            var settled: [String] = []
            for loop in group.makeIterator() {
                let peers = try await Task(executorPreference: EventLoopTaskExecutor(eventLoop: loop)) {
                    var peers: [String] = []
                    for call in 0 ..< 200 {
                        _ = try await interop.unaryCall(simpleRequest(payload: [UInt8(call % 256)]))
                        peers.append(recorder.peers.withLock { $0.last! })
                        if peers.count >= 10, Set(peers.suffix(5)).count == 1 { break }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    return peers
                }.value
                settled.append(peers.last!)
            }
            #expect(Set(settled).count == 2, "the two loops' callers settled on \(settled); the first call came from \(first)")
            #expect(settled.contains(first))
            await client.close()
        }
        try await group.shutdownGracefully()
    }

    @Test("callers on one event loop take turns among the endpoints")
    func loopCallersTakeTurnsAmongEndpoints() async throws {
        let first = PeerRecorder(), second = PeerRecorder()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        try await withServer(configuration: .init(interceptors: [first])) { _, firstPort in
            try await withServer(configuration: .init(interceptors: [second])) { _, secondPort in
                let client = RPCClient(endpoints: [.init(host: "127.0.0.1", port: firstPort), .init(host: "127.0.0.1", port: secondPort)],
                                       eventLoopGroup: group)
                let interop = InteropService.Client(transport: client)
                let loop = group.next()
                try await Task(executorPreference: EventLoopTaskExecutor(eventLoop: loop)) {
                    for call in 0 ..< 200 {
                        _ = try await interop.unaryCall(simpleRequest(payload: [UInt8(call % 256)]))
                        if call >= 20, first.peers.withLock({ $0.count }) >= 5, second.peers.withLock({ $0.count }) >= 5 { break }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                }.value
                #expect(first.peers.withLock { $0.count } >= 5 && second.peers.withLock { $0.count } >= 5,
                        "calls per endpoint: \(first.peers.withLock { $0.count }), \(second.peers.withLock { $0.count })")
                await client.close()
            }
        }
        try await group.shutdownGracefully()
    }

    @Test("a caller off the event loops keeps to one connection of an endpoint, and many callers spread over them")
    func callerKeepsToItsConnection() async throws {
        let recorder = PeerRecorder()
        try await withServer(configuration: .init(interceptors: [recorder])) { _, port in
            try await withClient(port: port, configuration: .init(connectionsPerEndpoint: 4)) { client in
                let interop = InteropService.Client(transport: client)
                // Bring all four up: callers whose connection is not up yet start it.
                for _ in 0 ..< 50 {
                    try await withThrowingDiscardingTaskGroup { group in
                        for _ in 0 ..< 16 { group.addTask { _ = try await interop.unaryCall(simpleRequest(payload: [1])) } }
                    }
                    if Set(recorder.peers.withLock { $0 }).count == 4 { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(Set(recorder.peers.withLock { $0 }).count == 4)
                // 16 callers make 10 calls each: all of one caller's calls go through one
                // connection, and the callers together use more than one.
                try await withThrowingDiscardingTaskGroup { group in
                    for caller in 0 ..< 16 {
                        group.addTask {
                            for call in 0 ..< 10 {
                                let payload = [UInt8(caller), UInt8(call)]
                                let response = try await interop.unaryCall(simpleRequest(payload: payload))
                                #expect(response.payload == payload)
                            }
                        }
                    }
                }
                let peerOfPayload = recorder.peerOfPayload.withLock { $0 }
                let perCaller = (0 ..< 16).map { caller in Set((0 ..< 10).compactMap { peerOfPayload[[UInt8(caller), UInt8($0)]] }) }
                #expect(perCaller.allSatisfy { $0.count == 1 }, "peers per caller: \(perCaller.map(\.count))")
                #expect(Set(perCaller.flatMap { $0 }).count > 1)
            }
        }
    }

    @Test("a client refuses to send invalid metadata: INVALID_ARGUMENT before anything is written")
    func clientRefusesInvalidMetadata() async throws {
        try await withServer { _, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                var metadata = Metadata()
                metadata.append("x-note", "line one\nline two")
                let error = await expectRPCError(.invalidArgument) {
                    try await interop.emptyCall(InteropEmpty(), options: CallOptions(metadata: metadata))
                }
                // The client's own message: the server would have said "the request metadata of …".
                #expect(error?.message.hasPrefix("the metadata of this call to /souk.test.v1.InteropService/EmptyCall is invalid") == true)
                #expect(error?.message.contains("x-note") == true)
                // The client is fine afterwards.
                _ = try await interop.emptyCall(InteropEmpty())
            }
        }
    }

    @Test("an error that is not a status becomes INTERNAL with a generic message")
    func nonStatusError() async throws {
        let echo = ScriptedEcho { _, _ in throw SecretFailure() }
        try await withServer(services: [echo]) { _, port in
            try await withClient(port: port) { client in
                let error = await expectRPCError(.internal) {
                    try await EchoService.Client(transport: client).echo(echoRequest("x"))
                }
                #expect(error?.message.contains("hunter2") == false)
                #expect(error?.message == "internal error while serving /souk.test.v1.EchoService/Echo")
            }
        }
    }

    @Test("a call past its deadline ends with DEADLINE_EXCEEDED and its handler is cancelled")
    func deadline() async throws {
        let echo = ScriptedEcho { _, _ in
            try await Task.sleep(for: .seconds(30))
            return EchoResponse()
        }
        try await withServer(services: [echo]) { _, port in
            try await withClient(port: port) { client in
                let start = ContinuousClock.now
                await expectRPCError(.deadlineExceeded) {
                    try await EchoService.Client(transport: client).echo(echoRequest("slow"), options: .timeout(.milliseconds(200)))
                }
                let elapsed = ContinuousClock.now - start
                #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(10))
                // The server's own timer cancels the handler.
                for _ in 0..<250 where echo.observed.cancelled == 0 && echo.observed.started > 0 {
                    try await Task.sleep(for: .milliseconds(20))
                }
                // On a loaded machine the deadline may pass before the handler's task starts; then
                // it never runs. A handler that did start must have been cancelled.
                #expect(echo.observed.started == 0 || echo.observed.cancelled == 1)
            }
        }
    }

    @Test("the server answers DEADLINE_EXCEEDED itself when its timer fires first")
    func serverSideDeadline() async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            var request = Frames.request(id: 1, method: InteropService.Methods.unaryCall.fullName, timeoutMs: 100,
                                         payload: try simpleRequest(sleepMs: 10_000).serializedBytes())
            try await connection.send(request)
            request.clear()
            try await connection.expectServerPreface()
            let frame = try await within(5) { try await connection.nextFrame() }
            guard case .response(let head, _)? = frame else {
                Issue.record("expected a response")
                return
            }
            #expect(head.code == RPCStatusCode.deadlineExceeded.rawValue)
            await connection.close()
        }
    }

    @Test("the server ends each call of a connection at its own deadline, whatever order the deadlines arrive in")
    func serverSideDeadlinesOfOneConnection() async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            // Due at 1500, 300 and 900 ms, and one call that answers at once: the second and
            // third deadlines come before the one already waiting, the last after every other.
            for (id, timeoutMs, sleepMs) in [(1, 1_500, 10_000), (2, 300, 10_000), (3, 900, 10_000), (4, 5_000, 0)] as [(UInt64, UInt64, Int32)] {
                try await connection.send(Frames.request(id: id, method: InteropService.Methods.unaryCall.fullName, timeoutMs: timeoutMs,
                                                         payload: try simpleRequest(sleepMs: sleepMs).serializedBytes()))
            }
            try await connection.expectServerPreface()
            var answered: [(id: UInt64, code: Int32)] = []
            for _ in 0..<4 {
                let frame = try await within(5) { try await connection.nextFrame() }
                guard case .response(let head, _)? = frame else {
                    Issue.record("expected a response")
                    return
                }
                answered.append((head.callID, head.code))
            }
            // The quick call answers whenever its handler gets to run; the others in deadline order.
            var expiredIDs: [UInt64] = []
            for (id, code) in answered {
                if id == 4 {
                    #expect(code == 0)
                } else {
                    #expect(code == RPCStatusCode.deadlineExceeded.rawValue)
                    expiredIDs.append(id)
                }
            }
            #expect(expiredIDs == [2, 3, 1])
            try await connection.expectStillServing(callID: 5)
            await connection.close()
        }
    }

    @Test("the client ends each call of a connection at its own deadline when the server never answers")
    func clientSideDeadlinesOfOneConnection() async throws {
        let silent = try await standInServer { AnswerPrefaceOnly() }
        try await withClient(port: silent.localAddress!.port!) { client in
            let stub = EchoService.Client(transport: client)
            let start = ContinuousClock.now
            let order = try await withThrowingTaskGroup(of: (timeout: Int, elapsed: Duration).self) { group in
                for timeout in [1_500, 300, 900] {
                    group.addTask {
                        await expectRPCError(.deadlineExceeded) {
                            try await stub.echo(echoRequest("\(timeout)"), options: .timeout(.milliseconds(timeout)))
                        }
                        return (timeout, ContinuousClock.now - start)
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                var ended: [(timeout: Int, elapsed: Duration)] = []
                for try await call in group { ended.append(call) }
                return ended
            }
            #expect(order.map(\.timeout) == [300, 900, 1_500])
            for (timeout, elapsed) in order {
                #expect(elapsed >= .milliseconds(timeout) && elapsed < .milliseconds(timeout) + .seconds(5))
            }
        }
        try await silent.close()
    }

    @Test("cancelling the calling task sends Cancel, ends the call with CANCELLED at once, and cancels the handler")
    func cancel() async throws {
        let echo = ScriptedEcho { _, _ in
            try await Task.sleep(for: .seconds(30))
            return EchoResponse()
        }
        try await withServer(services: [echo]) { _, port in
            try await withClient(port: port) { client in
                let call = Task { try await EchoService.Client(transport: client).echo(echoRequest("wait")) }
                for _ in 0..<200 where echo.observed.started == 0 { try await Task.sleep(for: .milliseconds(10)) }
                let start = ContinuousClock.now
                call.cancel()
                await expectRPCError(.cancelled) { try await call.value }
                #expect(ContinuousClock.now - start < .seconds(10))
                for _ in 0..<100 where echo.observed.cancelled == 0 { try await Task.sleep(for: .milliseconds(20)) }
                #expect(echo.observed.cancelled == 1)
                // The connection is still good.
                let response = try await EchoService.Client(transport: client).replaceEcho(echoRequest("after"))
                #expect(response.message == "after")
            }
        }
    }

    @Test("calls beyond the per-connection limit are RESOURCE_EXHAUSTED")
    func concurrencyLimit() async throws {
        try await withServer(configuration: .init(maxConcurrentCallsPerConnection: 2)) { _, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                let codes = Locked<[RPCStatusCode]>([])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<5 {
                        group.addTask {
                            do {
                                _ = try await interop.unaryCall(simpleRequest(sleepMs: 300))
                                codes.withLock { $0.append(.ok) }
                            } catch let error as RPCError {
                                codes.withLock { $0.append(error.code) }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let result = codes.withLock { $0 }
                #expect(result.filter { $0 == .ok }.count == 2)
                #expect(result.filter { $0 == .resourceExhausted }.count == 3)
            }
        }
    }

    @Test("a request frame over the limit is answered RESOURCE_EXHAUSTED and the connection goes on")
    func overLimitRequest() async throws {
        try await withServer(configuration: .init(limits: FrameLimits(maxFrameLength: 10_000))) { _, port in
            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                let error = await expectRPCError(.resourceExhausted) {
                    try await interop.unaryCall(simpleRequest(payload: [UInt8](repeating: 1, count: 50_000)))
                }
                #expect(error?.message.contains("10000") == true)
                let response = try await interop.unaryCall(simpleRequest(payload: [4, 5]))
                #expect(response.payload == [4, 5])
            }
        }
    }

    @Test("the server answers ping with pong carrying the same payload")
    func pingPong() async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            try await connection.send(Frames.ping(0xDEAD_BEEF))
            try await connection.expectServerPreface()
            let frame = try await within(5) { try await connection.nextFrame() }
            guard case .pong(let payload)? = frame else {
                Issue.record("expected a pong")
                return
            }
            #expect(payload == 0xDEAD_BEEF)
            await connection.close()
        }
    }

    @Test("a call id that does not increase is a protocol error: GOAWAY INVALID_ARGUMENT, the accepted call still answered, then close")
    func callIDMustIncrease() async throws {
        try await withServer { _, port in
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            var frames = try Frames.request(id: 5, simpleRequest(payload: [1], sleepMs: 100), method: InteropService.Methods.unaryCall)
            var again = try Frames.request(id: 5, InteropEmpty(), method: InteropService.Methods.emptyCall)
            frames.writeBuffer(&again)
            try await connection.send(frames)
            try await connection.expectServerPreface()
            var received: [Frame] = []
            while true {
                guard let frame = try await within(5, "a frame", { try await connection.nextFrame() }) else { break }
                received.append(frame)
            }
            // GOAWAY first: call 5 was accepted and is answered; then the server closes.
            guard received.count == 2, case .goAway(let goAway) = received[0], case .response(let head, _) = received[1] else {
                Issue.record("expected GOAWAY, then the answer to call 5; got \(received.map(\.kindName))")
                return
            }
            #expect(goAway.code == RPCStatusCode.invalidArgument.rawValue)
            #expect(goAway.reason == "call_id 5 is not greater than the previous call_id 5")
            #expect(goAway.lastCallID == 5)
            #expect(head.callID == 5 && head.code == 0)
            await connection.close()
        }
    }

    @Test("a connection idle past the idle timeout gets GOAWAY OK \"idle\" and is closed; the client reconnects")
    func idleTimeout() async throws {
        try await withServer(configuration: .init(idleTimeout: .milliseconds(300))) { server, port in
            let start = ContinuousClock.now
            let connection = try await RawConnection.connect(port: port)
            try await connection.send(Preface.bytes)
            try await connection.expectServerPreface()
            let frame = try await within(5) { try await connection.nextFrame() }
            guard case .goAway(let goAway)? = frame else {
                Issue.record("expected GOAWAY")
                return
            }
            #expect(goAway.code == 0 && goAway.reason == "idle")
            #expect(ContinuousClock.now - start >= .milliseconds(290))
            let end = try await within(5) { try await connection.nextFrame() }
            #expect(end == nil)
            await connection.close()

            try await withClient(port: port) { client in
                let interop = InteropService.Client(transport: client)
                _ = try await interop.emptyCall(InteropEmpty())
                // Closed once idle for 300 ms; a loaded machine may take longer to get there.
                for _ in 0 ..< 100 where server.core.connectionCount > 0 { try await Task.sleep(for: .milliseconds(50)) }
                #expect(server.core.connectionCount == 0)
                _ = try await interop.emptyCall(InteropEmpty())
            }
        }
    }

    @Test("a too many connections are refused with GOAWAY RESOURCE_EXHAUSTED")
    func connectionLimit() async throws {
        try await withServer(configuration: .init(maxConnections: 1)) { _, port in
            try await withClient(port: port) { client in
                _ = try await InteropService.Client(transport: client).emptyCall(InteropEmpty())
                let second = try await RawConnection.connect(port: port)
                // The server may refuse and close before our preface is out; what it sent is still read.
                try? await second.send(Preface.bytes)
                try await second.expectServerPreface()
                let refusal = try await within(5) { try await second.nextFrame() }
                guard case .goAway(let goAway)? = refusal else {
                    Issue.record("expected GOAWAY")
                    return
                }
                #expect(goAway.code == RPCStatusCode.resourceExhausted.rawValue)
                await second.close()
            }
        }
    }

    @Test("nested calls made through a generated stub inherit the deadline, trace context and request id")
    func propagation() async throws {
        let downstream = ScriptedEcho()
        try await withServer(services: [downstream]) { _, downstreamPort in
            let downstreamClient = RPCClient(host: "127.0.0.1", port: downstreamPort)
            let relay = ScriptedEcho { request, _ in
                // No options passed by hand: the stub takes them from the call being served.
                try await EchoService.Client(transport: downstreamClient).internalEcho(request)
            }
            try await withServer(services: [relay]) { _, relayPort in
                try await withClient(port: relayPort) { client in
                    var metadata = Metadata()
                    metadata.append("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                    metadata.append("x-request-id", "req-7")
                    metadata.append("authorization", "Bearer not-propagated")
                    let response = try await EchoService.Client(transport: client).echo(
                        echoRequest("nested"), options: CallOptions(timeout: .seconds(5), metadata: metadata))
                    #expect(response.message == "nested")
                }
            }
            await downstreamClient.close()
        }
        guard let seen = downstream.observed.contexts.first else {
            Issue.record("the downstream server saw no call")
            return
        }
        #expect(seen.metadata["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        #expect(seen.metadata["x-request-id"] == "req-7")
        #expect(seen.metadata["authorization"] == nil)
        // The deadline arrived with what was left of the 5 s.
        let remaining = seen.deadline.map { $0 - .now }
        #expect(remaining != nil && remaining! <= .seconds(5) && remaining! > .seconds(3))
    }

    @Test("the health service answers SERVING, NOT_FOUND for unknown services, and NOT_SERVING while draining")
    func health() async throws {
        try await withServer(configuration: .init(shutdownDelay: .milliseconds(500))) { server, port in
            try await withClient(port: port) { client in
                let health = HealthService.Client(transport: client)
                var request = HealthCheckRequest()
                let server1 = try await health.check(request).status
                #expect(server1 == .serving)
                request.service = InteropService.serviceName
                let service1 = try await health.check(request).status
                #expect(service1 == .serving)
                server.health.setStatus(.notServing, for: InteropService.serviceName)
                let service2 = try await health.check(request).status
                #expect(service2 == .notServing)
                server.health.setStatus(.serving, for: InteropService.serviceName)
                request.service = "souk.nope.v1.Nothing"
                await expectRPCError(.notFound) { [request] in try await health.check(request) }

                server.beginGracefulShutdown()
                request.service = ""
                let draining = try await health.check(request).status
                #expect(draining == .notServing)
            }
        }
    }

    @Test("interceptors run around calls: an authentication hook refuses calls without a valid token")
    func authentication() async throws {
        let auth = AuthenticationInterceptor { authorization, context in
            guard authorization == "Bearer good" else { throw RPCError(.unauthenticated, "a valid access token is required") }
            var context = context
            context.metadata.append("x-subject", "user-1")
            return context
        }
        try await withServer(configuration: .init(interceptors: [auth])) { _, port in
            try await withClient(port: port) { client in
                await expectRPCError(.unauthenticated) {
                    try await InteropService.Client(transport: client).emptyCall(InteropEmpty())
                }
                // Health checks need no credentials.
                _ = try await HealthService.Client(transport: client).check(HealthCheckRequest())
            }
            let withToken = RPCClient.Configuration(interceptors: [BearerTokenInterceptor { "good" }])
            try await withClient(port: port, configuration: withToken) { client in
                let response = try await InteropService.Client(transport: client).unaryCall(simpleRequest(echoMetadata: true))
                #expect(response.echoedMetadata.contains { $0.key == "x-subject" && $0.value == .text("user-1") })
            }
        }
    }
}

/// Like a Souk server that accepted the calls and hangs: it answers the preface and never
/// anything else.
final class AnswerPrefaceOnly: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let before = received
        received += unwrapInboundIn(data).readableBytes
        if before < 8 && received >= 8 {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: Preface.bytes)), promise: nil)
        }
    }
}

/// Records the client address (host and port) each call came from.
private final class PeerRecorder: ServerInterceptor {
    let peers = Mutex<[String]>([])
    /// The client address each SimpleRequest came from, by its payload.
    let peerOfPayload = Mutex<[[UInt8]: String]>([:])
    func intercept(_ request: any ProtoMessage, context: ServerContext,
                   next: @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage) async throws -> any ProtoMessage {
        peers.withLock { $0.append(context.peer) }
        if let simple = request as? SimpleRequest { peerOfPayload.withLock { $0[simple.payload] = context.peer } }
        return try await next(request, context)
    }
}
