import ArgumentParser
import SoukRPC

/// The RPC server's limits and timeouts as options of every command that serves
/// (PROTOCOL.md section 9 lists them with their defaults).
public struct RPCServerOptions: ParsableArguments {
    private static let defaults = RPCServer.Configuration()

    @Option(help: "The largest frame_length accepted, in bytes.")
    public var maxFrameBytes = defaults.limits.maxFrameLength
    @Option(help: "The largest header_length accepted, in bytes.")
    public var maxHeaderBytes = defaults.limits.maxHeaderLength
    @Option(help: "Calls in flight on one connection.")
    public var maxConcurrentCalls = defaults.maxConcurrentCallsPerConnection
    @Option(help: "Connections in all.")
    public var maxConnections = defaults.maxConnections
    @Option(help: "Connections from one IP address.")
    public var maxConnectionsPerPeer = defaults.maxConnectionsPerPeer
    @Option(help: "Milliseconds without a call before an idle connection is closed; 0: never.")
    public var idleTimeoutMs = Int(defaults.idleTimeout.map(Self.milliseconds) ?? 0)
    @Option(help: "Milliseconds a new connection has to send its preface.")
    public var prefaceTimeoutMs = Self.milliseconds(defaults.prefaceTimeout)
    @Option(help: "Milliseconds accepted calls may take to finish after GOAWAY.")
    public var graceMs = Self.milliseconds(defaults.shutdownGracePeriod)
    @Option(help: "Milliseconds a graceful shutdown keeps serving, health NOT_SERVING, before GOAWAY.")
    public var shutdownDelayMs = Self.milliseconds(defaults.shutdownDelay)
    @Option(help: "Bytes of answers one connection may leave unread.")
    public var maxUnsentBytesPerConnection = defaults.maxUnsentBytesPerConnection
    @Option(help: "Bytes of answers all connections together may leave unread.")
    public var maxUnsentBytes = defaults.maxUnsentBytes
    @Option(help: "Bytes of incomplete frames held for all connections together.")
    public var maxIncompleteFrameBytes = defaults.maxIncompleteFrameBytes
    @Option(help: ArgumentHelp(
        "Where handlers run: event-loop (their connection's event loop, no thread hop; for handlers that never block) or pool (Swift's global pool).",
        valueName: "event-loop|pool"))
    public var handlers: HandlerPlacement = .eventLoop
    @Flag(help: "Serve no reflection service (souk.rpc.v1.ReflectionService: what `souk call` lists and describes).")
    public var noReflection = false

    /// Where a service's handlers run. Souk's own handlers never block a thread: SQL runs on
    /// the database pool's threads and password hashes on the hasher's, so by default they
    /// run on their connection's event loop and a call costs no hop to Swift's pool and back.
    public enum HandlerPlacement: String, ExpressibleByArgument, Sendable {
        case eventLoop = "event-loop"
        case pool
    }

    public init() {}

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    public func validate() throws {
        let counts: [(String, Int)] = [
            ("--max-frame-bytes", maxFrameBytes), ("--max-header-bytes", maxHeaderBytes),
            ("--max-concurrent-calls", maxConcurrentCalls), ("--max-connections", maxConnections),
            ("--max-connections-per-peer", maxConnectionsPerPeer), ("--preface-timeout-ms", prefaceTimeoutMs),
            ("--max-unsent-bytes-per-connection", maxUnsentBytesPerConnection), ("--max-unsent-bytes", maxUnsentBytes),
            ("--max-incomplete-frame-bytes", maxIncompleteFrameBytes),
        ]
        for (name, value) in counts where value < 1 {
            throw ValidationError("\(name) must be at least 1, not \(value)")
        }
        for (name, value) in [("--idle-timeout-ms", idleTimeoutMs), ("--grace-ms", graceMs), ("--shutdown-delay-ms", shutdownDelayMs)]
        where value < 0 {
            throw ValidationError("\(name) must be 0 or more, not \(value)")
        }
        if maxFrameBytes < 8 { throw ValidationError("--max-frame-bytes must be at least 8 (the smallest frame), not \(maxFrameBytes)") }
    }

    /// A server configuration on `host`:`port` with these limits.
    public func configuration(host: String, port: Int) -> RPCServer.Configuration {
        var configuration = RPCServer.Configuration(
            host: host, port: port,
            limits: FrameLimits(maxFrameLength: maxFrameBytes, maxHeaderLength: maxHeaderBytes),
            maxConcurrentCallsPerConnection: maxConcurrentCalls,
            maxConnections: maxConnections, maxConnectionsPerPeer: maxConnectionsPerPeer,
            idleTimeout: idleTimeoutMs == 0 ? nil : .milliseconds(idleTimeoutMs),
            prefaceTimeout: .milliseconds(prefaceTimeoutMs),
            shutdownGracePeriod: .milliseconds(graceMs), shutdownDelay: .milliseconds(shutdownDelayMs),
            maxUnsentBytesPerConnection: maxUnsentBytesPerConnection, maxUnsentBytes: maxUnsentBytes,
            maxIncompleteFrameBytes: maxIncompleteFrameBytes,
            handlerExecution: handlers == .eventLoop ? .eventLoop : .globalPool)
        configuration.reflection = !noReflection
        return configuration
    }
}
