// The load generator of the benchmark:
//   rpcbench-client --kind souk|grpc|nio --port N --concurrency C --connections K
//                   [--duration 5] [--warmup 1] [--payload 100]
// runs C calls in flight over K connections (each caller starts its next call when
// its previous one answered) and prints `RESULT calls_per_s p50_us p99_us calls`.
//   rpcbench-client --kind ... --port N --idle 100 --hold 3
// opens 100 connections, makes one call on each, prints `ready`, and holds them.
#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOPosix
import RPCBenchKit
import SoukRPC
import SoukRPCCore
import TestContracts

let options = Options(CommandLine.arguments)
options.installExecutor()
let kind = options.string("kind", "souk")
let port = options.int("port", 0)
let concurrency = options.int("concurrency", 1)
let connections = max(1, options.int("connections", 1))
let duration = options.double("duration", 5)
let warmup = options.double("warmup", 1)
let payloadSize = options.int("payload", 100)
let idle = options.int("idle", 0)
let hold = options.double("hold", 3)
/// `pool` (callers on Swift's global pool) or `loop` (callers on their connection's event loop; Souk only).
let callers = options.string("callers", "pool")
let payload = [UInt8](repeating: 0x61, count: payloadSize)

/// Runs `concurrency` callers; caller `i` calls `call(i)` in a loop. Latencies of calls
/// started after the warm-up and answered before the end are kept. `executor(i)` is
/// where caller `i` runs (nil: Swift's global pool).
func runLoad(executor: (Int) -> (any TaskExecutor)? = { _ in nil },
             _ call: @escaping @Sendable (Int) async throws -> Void) async throws -> LatencySummary {
    let start = nowNanoseconds()
    let measureStart = start + Int64(warmup * 1e9)
    let end = measureStart + Int64(duration * 1e9)
    let all = try await withThrowingTaskGroup(of: [Int64].self) { group in
        for caller in 0..<concurrency {
            group.addTask(executorPreference: executor(caller)) {
                var latencies: [Int64] = []
                latencies.reserveCapacity(Int(duration * 200_000) / max(1, concurrency / 4))
                while true {
                    let t0 = nowNanoseconds()
                    try await call(caller)
                    let t1 = nowNanoseconds()
                    if t1 >= end { break }
                    if t0 >= measureStart { latencies.append(t1 - t0) }
                }
                return latencies
            }
        }
        var all: [Int64] = []
        for try await part in group { all += part }
        return all
    }
    return LatencySummary(latencies: all, seconds: duration)
}

// MARK: Souk

func soukLoad() async throws {
    let client = RPCClient(host: "127.0.0.1", port: port, configuration: .init(connectionsPerEndpoint: connections))
    let stub = InteropService.Client(transport: client)
    var request = SimpleRequest()
    request.payload = payload
    let message = request
    // Bring every connection up before measuring.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<(connections * 2) { group.addTask { _ = try await stub.unaryCall(message) } }
        try await group.waitForAll()
    }
    let executors = (0..<connections).map { _ in client.eventLoopExecutor() }
    let summary = try await runLoad(executor: { callers == "loop" ? executors[$0 % executors.count] : nil }) { _ in
        let response = try await stub.unaryCall(message)
        precondition(response.payload.count == payloadSize)
    }
    say(summary.line)
    await client.close()
}

func soukIdle() async throws {
    var clients: [RPCClient] = []
    for _ in 0..<idle {
        let client = RPCClient(host: "127.0.0.1", port: port)
        _ = try await InteropService.Client(transport: client).emptyCall(InteropEmpty())
        clients.append(client)
    }
    say("ready")
    try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
    for client in clients { await client.close() }
}

// MARK: grpc-swift-2

func grpcClients(_ count: Int) throws -> [GRPCClient<HTTP2ClientTransport.Posix>] {
    try (0..<count).map { _ in
        GRPCClient(transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext))
    }
}

func grpcCall(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
    let response = try await client.unary(request: ClientRequest(message: payload), descriptor: GRPCEcho.method,
                                          serializer: BytesSerializer(), deserializer: BytesDeserializer(), options: .defaults) {
        try $0.message
    }
    precondition(response.count == payloadSize)
}

func grpcLoad() async throws {
    let clients = try grpcClients(connections)
    try await withThrowingDiscardingTaskGroup { group in
        for client in clients { group.addTask { try await client.runConnections() } }
        for client in clients { try await grpcCall(client) }
        let summary = try await runLoad { caller in try await grpcCall(clients[caller % clients.count]) }
        say(summary.line)
        for client in clients { client.beginGracefulShutdown() }
    }
}

func grpcIdle() async throws {
    let clients = try grpcClients(idle)
    try await withThrowingDiscardingTaskGroup { group in
        for client in clients { group.addTask { try await client.runConnections() } }
        for client in clients { try await grpcCall(client) }
        say("ready")
        try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
        for client in clients { client.beginGracefulShutdown() }
    }
}

// MARK: Bare NIO (for the NIO and C echo servers)

/// Keeps `inFlight` requests outstanding on one connection, pipelined; the echo
/// answers in order, so send times are a FIFO.
final class LoadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let inFlight: Int
    private let request: ByteBuffer
    private let measureStart: Int64
    private let end: Int64
    private let done: EventLoopPromise<[Int64]>
    private var processor = NIOSingleStepByteToMessageProcessor(LengthPrefixedFrameDecoder())
    private var sendTimes: [Int64]
    private var head = 0
    private var outstanding = 0
    private var latencies: [Int64] = []
    private var stopping = false

    init(inFlight: Int, request: ByteBuffer, measureStart: Int64, end: Int64, done: EventLoopPromise<[Int64]>) {
        self.inFlight = inFlight
        self.request = request
        self.measureStart = measureStart
        self.end = end
        self.done = done
        self.sendTimes = Array(repeating: 0, count: inFlight)
        latencies.reserveCapacity(1 << 20)
    }

    private func send(context: ChannelHandlerContext) {
        sendTimes[(head + outstanding) % inFlight] = nowNanoseconds()
        outstanding += 1
        context.write(wrapOutboundOut(request), promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        for _ in 0..<inFlight { send(context: context) }
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        try! processor.process(buffer: unwrapInboundIn(data)) { _ in
            let t1 = nowNanoseconds()
            let t0 = sendTimes[head]
            head = (head + 1) % inFlight
            outstanding -= 1
            if t0 >= measureStart && t1 < end { latencies.append(t1 - t0) }
            if t1 < end {
                send(context: context)
            } else if outstanding == 0 && !stopping {
                stopping = true
                done.succeed(latencies)
                context.close(promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

func nioRequest() -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(payloadSize))
    buffer.writeBytes(payload)
    return buffer
}

func nioLoad() async throws {
    let group = MultiThreadedEventLoopGroup.singleton
    let start = nowNanoseconds()
    let measureStart = start + Int64(warmup * 1e9)
    let end = measureStart + Int64(duration * 1e9)
    var futures: [EventLoopFuture<[Int64]>] = []
    for index in 0..<connections {
        let loop = group.next()
        let done = loop.makePromise(of: [Int64].self)
        let share = concurrency / connections + (index < concurrency % connections ? 1 : 0)
        let request = nioRequest()
        _ = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LoadHandler(inFlight: share, request: request, measureStart: measureStart, end: end, done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        futures.append(done.futureResult)
    }
    var all: [Int64] = []
    for future in futures { all += try await future.get() }
    say(LatencySummary(latencies: all, seconds: duration).line)
}

func nioIdle() async throws {
    var channels: [any Channel] = []
    for _ in 0..<idle {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(nioRequest())
        channels.append(channel)
    }
    say("ready")
    try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
    for channel in channels { try? await channel.close() }
}

switch (kind, idle > 0) {
case ("souk", false): try await soukLoad()
case ("souk", true): try await soukIdle()
case ("grpc", false): try await grpcLoad()
case ("grpc", true): try await grpcIdle()
case ("nio", false): try await nioLoad()
case ("nio", true): try await nioIdle()
default:
    say("unknown kind \(kind)")
    exit(2)
}
