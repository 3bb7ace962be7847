// The echo servers of the benchmark, one per process:
//   rpcbench-server --kind souk|souk-loop|grpc|nio [--port N]
// Prints `listening on PORT` once it accepts connections; runs until killed.
#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCore
import NIOPosix
import RPCBenchKit
import SoukRPC
import TestContracts

let options = Options(CommandLine.arguments)
options.installExecutor()
let kind = options.string("kind", "souk")
let port = options.int("port", 0)

/// Bare NIO: echoes each length-prefixed frame, flushing once per read burst.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var processor = NIOSingleStepByteToMessageProcessor(LengthPrefixedFrameDecoder())
    private var out = ByteBuffer()

    func handlerAdded(context: ChannelHandlerContext) {
        out = context.channel.allocator.buffer(capacity: 4096)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        try? processor.process(buffer: unwrapInboundIn(data)) { frame in
            out.writeInteger(UInt32(frame.readableBytes))
            out.writeImmutableBuffer(frame)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if out.readableBytes > 0 {
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            out.clear()
        }
    }
}

/// grpc-swift-2: one unary echo method over raw bytes.
struct GRPCEchoService: RegistrableRPCService {
    func registerMethods<Transport: ServerTransport>(with router: inout GRPCCore.RPCRouter<Transport>) {
        router.registerHandler(forMethod: GRPCEcho.method, deserializer: BytesDeserializer(), serializer: BytesSerializer()) {
            request, _ in
            var message: [UInt8] = []
            for try await part in request.messages {
                message = part
                break
            }
            return StreamingServerResponse(single: ServerResponse(message: message))
        }
    }
}

switch kind {
case "souk", "souk-loop":
    var logger = Logger(label: "rpcbench")
    logger.logLevel = .error
    let server = RPCServer(
        services: [InteropHandler()],
        configuration: .init(host: "127.0.0.1", port: port, handlerExecution: kind == "souk" ? .globalPool : .eventLoop),
        logger: logger)
    Task {
        let address = try await server.listeningAddress
        say("listening on \(address.port!)")
    }
    try await server.run()
case "grpc":
    let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext)
    let server = GRPCServer(transport: transport, services: [GRPCEchoService()])
    Task {
        let address = try await transport.listeningAddress
        say("listening on \(address.ipv4!.port)")
    }
    try await server.serve()
case "nio":
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
        }
        .bind(host: "127.0.0.1", port: port).get()
    say("listening on \(channel.localAddress!.port!)")
    try await channel.closeFuture.get()
default:
    say("unknown kind \(kind)")
    exit(2)
}
