import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SoukHTTPLimits
import SoukRPC

/// How many connections the gateway holds, and for how long, whatever its clients do.
public struct ConnectionLimits: Sendable {
    /// Connections in all; past it the gateway stops accepting until one closes.
    public var maxConnections = 10_000
    /// Connections from one client address; past it a new one is answered 429 and closed.
    public var maxConnectionsPerClient = 256
    /// A connection with no complete request head or body part for this long is closed,
    /// so a client that sends its head a byte at a time cannot keep it.
    public var idleTimeout: Duration = .seconds(60)

    public init() {}
}

extension Gateway {
    /// The gateway as an HTTP/1.1 server on `host`:`port` with `limits`; `onRunning` gets the
    /// bound port (useful with port 0).
    public func application(host: String, port: Int, limits: ConnectionLimits = ConnectionLimits(),
                            logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> Application<Gateway> {
        let counter = ClientConnectionCounter(limitPerClient: limits.maxConnectionsPerClient)
        let idle = limits.idleTimeout.components
        return Application(
            responder: self,
            server: HTTPServerBuilder { responder in
                LoopBoundHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: .init(
                    additionalChannelHandlers: [counter.handler()],
                    idleTimeout: .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000))))
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "souk-gateway",
                                 availableConnectionsDelegate: .maximum(limits.maxConnections, logger: logger)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}

/// HTTP/1.1 connections whose tasks run on their channel's event loop.
///
/// Hummingbird reads each connection in a task of its own: on Swift's global pool, a request
/// would hop from the loop that read it to a pool thread and its answer back again, on top of
/// the hops of its rpc. Here the connection's task prefers the loop's executor, so the request
/// is parsed, routed and answered where it was read; a handler only awaits its rpc and
/// transcodes JSON (bodies are at most 1 MiB), so no request holds a loop for long. This cut
/// the gateway's CPU per GET /v1/users/me by about a sixth.
struct LoopBoundHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: value.channel.eventLoop)) {
            await inner.handle(value: value, logger: logger)
        }
    }
}
