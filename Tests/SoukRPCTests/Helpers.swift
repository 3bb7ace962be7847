import Logging
import NIOCore
import NIOPosix
import SoukProtobuf
@testable import SoukRPC
import SoukRPCCore
import TestContracts
import Testing

/// Fails the test instead of hanging when `body` takes longer than `seconds`.
func within<T: Sendable>(_ seconds: Double, _ what: String = "the operation",
                         _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            Issue.record("\(what) took longer than \(seconds) s")
            throw RPCError(.deadlineExceeded, "\(what) took longer than \(seconds) s")
        }
        return value
    }
}

/// Runs a server for the duration of `body`; shuts it down gracefully after.
func withServer<T: Sendable>(
    services: [any RPCService] = [InteropHandler()],
    configuration: RPCServer.Configuration = RPCServer.Configuration(),
    _ body: @Sendable (RPCServer, Int) async throws -> T
) async throws -> T {
    var logger = Logger(label: "test.server")
    logger.logLevel = .critical
    let server = RPCServer(services: services, configuration: configuration, logger: logger)
    let running = Task { try await server.run() }
    let port = try await server.listeningAddress.port!
    do {
        let result = try await body(server, port)
        server.beginGracefulShutdown()
        _ = try await within(10, "the server's shutdown") { try await running.value }
        return result
    } catch {
        server.closeNow()
        _ = try? await running.value
        throw error
    }
}

/// A client of one local port, closed after `body`; by default it keeps one connection
/// (not one per event loop), which the tests of a single connection's behaviour rely on.
func withClient<T: Sendable>(
    port: Int, configuration: RPCClient.Configuration = RPCClient.Configuration(connectionsPerEndpoint: 1),
    _ body: @Sendable (RPCClient) async throws -> T
) async throws -> T {
    let client = RPCClient(host: "127.0.0.1", port: port, configuration: configuration)
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

/// Expects `body` to fail with an ``RPCError`` of `code`; returns it.
@discardableResult
func expectRPCError<T>(_ code: RPCStatusCode, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () async throws -> T) async -> RPCError? {
    do {
        let value = try await body()
        Issue.record("expected \(code.name), got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func simpleRequest(payload: [UInt8] = [], sleepMs: Int32 = 0, status: (RPCStatusCode, String)? = nil,
                   echoMetadata: Bool = false) -> SimpleRequest {
    var request = SimpleRequest()
    request.payload = payload
    request.sleepMs = sleepMs
    request.echoMetadata = echoMetadata
    if let status {
        var echo = EchoStatus()
        echo.code = status.0.rawValue
        echo.message = status.1
        request.responseStatus = echo
    }
    return request
}

/// A TCP connection that speaks raw bytes, to test the server's side of PROTOCOL.md.
final class RawConnection: @unchecked Sendable {
    /// Hands every read to the test through an AsyncStream; finishes it at EOF.
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let continuation: AsyncStream<ByteBuffer>.Continuation

        init(_ continuation: AsyncStream<ByteBuffer>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            continuation.yield(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    private let channel: any Channel
    private var iterator: AsyncStream<ByteBuffer>.AsyncIterator
    private var buffer = ByteBuffer()
    private var decoder = FrameDecoder(limits: FrameLimits(maxFrameLength: 64 * 1024 * 1024))

    private init(channel: any Channel, stream: AsyncStream<ByteBuffer>) {
        self.channel = channel
        self.iterator = stream.makeAsyncIterator()
    }

    /// `reading: false` makes a peer that never reads what the server sends, until ``startReading()``.
    static func connect(port: Int, reading: Bool = true) async throws -> RawConnection {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: reading)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, stream: stream)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func send(_ buffer: ByteBuffer) async throws {
        try await channel.writeAndFlush(buffer)
    }

    /// Hands `buffer` to the socket without waiting for it to be written (the server may stop reading).
    func sendWithoutWaiting(_ buffer: ByteBuffer) {
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Starts reading, for a connection made with `reading: false`.
    func startReading() async throws {
        try await channel.setOption(.autoRead, value: true).get()
    }

    /// Reads until `count` bytes are buffered; nil at EOF.
    private func fill(_ count: Int) async throws -> Bool {
        while buffer.readableBytes < count {
            guard var more = await iterator.next() else { return false }
            buffer.writeBuffer(&more)
        }
        return true
    }

    func read(_ count: Int) async throws -> [UInt8]? {
        guard try await fill(count) else { return nil }
        return buffer.readBytes(length: count)
    }

    /// Everything until the server closes.
    func readToEnd() async throws -> [UInt8] {
        while let more = await iterator.next() {
            var more = more
            buffer.writeBuffer(&more)
        }
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    /// Makes call `id` (EmptyCall) and expects it answered OK: the connection goes on.
    func expectStillServing(callID id: UInt64, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await send(try Frames.request(id: id, InteropEmpty(), method: InteropService.Methods.emptyCall))
        guard case .response(let ok, _)? = try await nextFrame() else {
            Issue.record("expected a response", sourceLocation: sourceLocation)
            return
        }
        #expect(ok.callID == id && ok.code == 0, sourceLocation: sourceLocation)
    }

    func expectServerPreface() async throws {
        let preface = try await read(8)
        #expect(preface == Preface.bytes)
    }

    /// The next frame; nil at EOF.
    func nextFrame() async throws -> Frame? {
        while true {
            if let frame = try decoder.decodeFrame(&buffer) { return frame }
            guard var more = await iterator.next() else { return nil }
            buffer.writeBuffer(&more)
        }
    }

    /// Shuts the sending side only (TCP half-close); answers can still be read.
    func closeOutput() async throws {
        try await channel.close(mode: .output)
    }

    func close() async {
        try? await channel.close()
    }
}

enum Frames {
    static func request(id: UInt64, method: String, timeoutMs: UInt64 = 0, metadata: Metadata = Metadata(),
                        payload: [UInt8] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        FrameWriter.writeRequest(callID: id, method: method, methodUTF8Count: method.utf8.count, timeoutMs: timeoutMs,
                                 metadata: metadata, payloadSize: payload.count, to: &buffer)
        buffer.writeBytes(payload)
        return buffer
    }

    static func request(id: UInt64, _ message: some ProtoMessage, method: MethodDescriptor) throws -> ByteBuffer {
        request(id: id, method: method.fullName, payload: try message.serializedBytes())
    }

    static func ping(_ payload: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        FrameWriter.writePing(payload, to: &buffer)
        return buffer
    }

    static func cancel(_ id: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        FrameWriter.writeCancel(callID: id, to: &buffer)
        return buffer
    }
}

/// A stand-in for a server on 127.0.0.1 (any free port): each accepted connection gets a
/// handler from `makeHandler`, which plays the part. Close the returned channel when done.
func standInServer(_ makeHandler: @escaping @Sendable () -> any ChannelHandler) async throws -> any Channel {
    try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(makeHandler()) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
}
