import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

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
            server: .http1(configuration: .init(
                additionalChannelHandlers: [counter.handler()],
                idleTimeout: .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000))),
            configuration: .init(address: .hostname(host, port: port), serverName: "souk-gateway",
                                 availableConnectionsDelegate: .maximum(limits.maxConnections, logger: logger)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}
