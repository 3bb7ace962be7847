import NIOCore
import SoukRPCCore

/// Checks the client preface (PROTOCOL.md section 1), answers it, and leaves the
/// pipeline. HTTP clients get a plain `400 Bad Request`; other strangers and
/// unknown versions get the server preface and a GOAWAY saying why.
final class ServerPrefaceHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var buffered: ByteBuffer?
    private var done = false

    /// Told to the connection handler once the client's preface is answered. (The
    /// preface timeout is the connection handler's, read by its loop's sweeper.)
    struct PrefaceAnswered {}

    func handlerRemoved(context: ChannelHandlerContext) {
        buffered = nil
    }

    static let httpResponse: ByteBuffer = {
        let body = "This port speaks Souk RPC (a binary protocol over TCP, see PROTOCOL.md), not HTTP.\n"
        return ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                   + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
    }()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if var earlier = buffered {
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        switch Preface.classify(bytes.readableBytesView) {
        case .needMoreBytes:
            buffered = bytes
        case .http:
            done = true
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(Self.httpResponse)).whenComplete { _ in closeAfterLinger(channel) }
        case .garbage:
            refuse(context: context, code: .invalidArgument, reason: "not a Souk RPC client: bad preface")
        case .souk(let version) where version != Preface.version:
            refuse(context: context, code: .unimplemented,
                   reason: "unsupported protocol version \(version); this server speaks \(Preface.version)")
        case .souk:
            done = true
            buffered = nil
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: Preface.bytes)), promise: nil)
            // The connection's idle clock starts now: nothing else may precede the preface.
            context.fireUserInboundEventTriggered(PrefaceAnswered())
            bytes.moveReaderIndex(forwardBy: Preface.length)
            // Frames may follow the preface in the same read: hand them on before leaving.
            if bytes.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(bytes))
            }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func refuse(context: ChannelHandlerContext, code: RPCStatusCode, reason: String) {
        done = true
        buffered = nil
        var buffer = context.channel.allocator.buffer(capacity: 64 + reason.utf8.count)
        buffer.writeBytes(Preface.bytes)
        FrameWriter.writeGoAway(lastCallID: 0, code: code, reason: reason, to: &buffer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in closeAfterLinger(channel) }
    }
}

/// Sits in place of the protocol handlers on a connection over one of the server's
/// connection limits: the preface and a GOAWAY `RESOURCE_EXHAUSTED`, then close.
final class ConnectionLimitHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let reason: String

    init(reason: String) {
        self.reason = reason
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64 + reason.utf8.count)
        buffer.writeBytes(Preface.bytes)
        FrameWriter.writeGoAway(lastCallID: 0, code: .resourceExhausted, reason: reason, to: &buffer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in closeAfterLinger(channel) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Dropped: the connection is being refused.
    }
}

/// Half-closes after a refusal, so that what was written reaches the peer before any
/// reset (see ``ServerConnectionHandler/lingerTime``), and closes fully soon after.
func closeAfterLinger(_ channel: any Channel) {
    channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
    channel.eventLoop.scheduleTask(in: ServerConnectionHandler.lingerTime) { [weak channel] in channel?.close(promise: nil) }
}
