import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// How many connections each client address holds, shared by the handlers of every connection,
/// so that one client with thousands of connections cannot shut the others out.
public final class ClientConnectionCounter: Sendable {
    /// Connections one address may hold at once.
    public let limitPerClient: Int
    private let counts = Mutex<[String: Int]>([:])

    public init(limitPerClient: Int) {
        self.limitPerClient = limitPerClient
    }

    /// Counts a new connection of `client`; false (and not counted) when it already holds the limit.
    func open(_ client: String) -> Bool {
        counts.withLock { counts in
            let held = counts[client, default: 0]
            guard held < limitPerClient else { return false }
            counts[client] = held + 1
            return true
        }
    }

    func close(_ client: String) {
        counts.withLock { counts in
            guard let held = counts[client] else { return }
            counts[client] = held > 1 ? held - 1 : nil
        }
    }

    /// The connections `client` holds now.
    public func connections(of client: String) -> Int { counts.withLock { $0[client, default: 0] } }

    /// A handler for one new connection (Hummingbird's `additionalChannelHandlers`).
    public func handler() -> ClientConnectionLimitHandler { ClientConnectionLimitHandler(counter: self) }
}

/// Counts its connection against its client's address; a connection over the limit is answered
/// 429 with a message and closed before any request of it is read.
public final class ClientConnectionLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let counter: ClientConnectionCounter
    private var client: String?
    private var refused = false

    init(counter: ClientConnectionCounter) {
        self.counter = counter
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        if client == nil && !refused { admit(context) }
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }  // what a refused connection sends is not read
        context.fireChannelRead(data)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func admit(_ context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if counter.open(address) {
            client = address
            return
        }
        refused = true
        let body = #"{"code":8,"status":"RESOURCE_EXHAUSTED","message":"too many connections from \#(address): at most \#(counter.limitPerClient) at once; close some, or reuse them (keep-alive)","details":[]}"#
        var head = HTTPResponse(status: .tooManyRequests)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.utf8.count)
        head.headerFields[.connection] = "close"
        head.headerFields[.retryAfter] = "1"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(string: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    private func release() {
        if let client {
            counter.close(client)
            self.client = nil
        }
    }
}
