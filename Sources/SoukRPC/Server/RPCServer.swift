import CSoukMalloc
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SoukProtobuf
import SoukReflection
import SoukRPCCore
import SoukWire
import Synchronization

/// A Souk RPC server on TCP: hosts services, routes calls by method name, and
/// speaks PROTOCOL.md.
///
/// Run it as a swift-service-lifecycle `Service` (or call ``run()``): it binds,
/// serves until a graceful shutdown (SIGTERM through a `ServiceGroup`, or
/// ``beginGracefulShutdown()``), then stops accepting, sends GOAWAY on every
/// connection, lets the calls it accepted finish within the grace period, and
/// returns once every connection is closed. Cancelling the task running
/// ``run()`` closes everything at once.
///
/// ```swift
/// let server = RPCServer(services: [OrdersHandler(...)], configuration: .init(port: 7001), logger: logger)
/// try await ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public final class RPCServer: Service, Sendable {
    /// Where handlers run.
    public enum HandlerExecution: Sendable, Hashable {
        /// Swift's global concurrent pool (the default). A handler that computes for
        /// a long time delays nothing but itself; each call costs two thread hops
        /// (event loop → pool → event loop).
        case globalPool
        /// The event loop of the call's connection (see ``EventLoopTaskExecutor``):
        /// no thread hop at all, so the highest throughput and lowest latency, but a
        /// handler that blocks or computes for long stalls every connection on that
        /// loop. For handlers that only await I/O.
        case eventLoop
    }

    /// Every limit and timeout of a server. PROTOCOL.md's section 9 lists them with
    /// their defaults and the `souk` flags that set them.
    public struct Configuration: Sendable {
        /// The address to listen on.
        public var host: String
        /// The port; 0 picks a free one (see ``RPCServer/listeningAddress``).
        public var port: Int
        /// Frame and header size limits (PROTOCOL.md section 2).
        public var limits: FrameLimits
        /// Calls in flight on one connection beyond which a call is answered RESOURCE_EXHAUSTED.
        public var maxConcurrentCallsPerConnection: Int
        /// Connections beyond which a new one gets GOAWAY RESOURCE_EXHAUSTED.
        public var maxConnections: Int
        /// Connections from one IP address beyond which a new one from it gets GOAWAY
        /// RESOURCE_EXHAUSTED, so that one client cannot take every connection.
        public var maxConnectionsPerPeer: Int
        /// A connection with no call in flight, none started or ended for this long, is
        /// closed with GOAWAY `OK` "idle"; nil never closes idle connections. Pings and
        /// incomplete frames do not count as activity.
        public var idleTimeout: Duration?
        /// A client that has not sent its 8-byte preface by then is disconnected, without an answer.
        public var prefaceTimeout: Duration
        /// How long in-flight calls may take to finish once a GOAWAY was sent (graceful
        /// shutdown, a protocol error, idleness) before the connection is closed anyway.
        public var shutdownGracePeriod: Duration
        /// How long a server keeps accepting calls after a graceful shutdown began, with
        /// its health NOT_SERVING, so that load balancers polling health stop sending
        /// calls before the GOAWAYs (Kubernetes' pre-stop delay). 0 by default.
        public var shutdownDelay: Duration
        /// Bytes of answers a connection may have waiting unread by its peer; an answer
        /// past it is replaced by RESOURCE_EXHAUSTED. (Reading from a peer stops long
        /// before, at the channel's 64 KiB high-water mark; this bounds the answers of
        /// calls that were already running.)
        public var maxUnsentBytesPerConnection: Int
        /// The same bound over all connections together.
        public var maxUnsentBytes: Int
        /// Bytes of incomplete frames held over all connections (each may hold 64 KiB
        /// uncounted); a connection whose frame would pass it is closed with GOAWAY
        /// RESOURCE_EXHAUSTED.
        public var maxIncompleteFrameBytes: Int
        /// Where handlers run.
        public var handlerExecution: HandlerExecution
        /// Interceptors around every call, the first outermost.
        public var interceptors: [any ServerInterceptor]
        /// Whether the server hosts `souk.rpc.v1.ReflectionService` (PROTOCOL.md): what it hosts
        /// and the descriptors of ``descriptorSets``, for tools such as `souk call`.
        public var reflection = true
        /// The serialized `FileDescriptorSet`s of the hosted services' contracts (e.g.
        /// `SoukContractDescriptors.fileDescriptorSet`), which reflection serves. The RPC
        /// protocol's own (health, reflection) are always included.
        public var descriptorSets: [[UInt8]] = []

        public init(host: String = "127.0.0.1", port: Int = 0, limits: FrameLimits = .default,
                    maxConcurrentCallsPerConnection: Int = 1024, maxConnections: Int = 10_000,
                    maxConnectionsPerPeer: Int = 256,
                    idleTimeout: Duration? = .seconds(300), prefaceTimeout: Duration = .seconds(10),
                    shutdownGracePeriod: Duration = .seconds(10), shutdownDelay: Duration = .zero,
                    maxUnsentBytesPerConnection: Int = 16 * 1024 * 1024, maxUnsentBytes: Int = 256 * 1024 * 1024,
                    maxIncompleteFrameBytes: Int = 256 * 1024 * 1024,
                    handlerExecution: HandlerExecution = .globalPool,
                    interceptors: [any ServerInterceptor] = []) {
            self.host = host
            self.port = port
            self.limits = limits
            self.maxConcurrentCallsPerConnection = maxConcurrentCallsPerConnection
            self.maxConnections = maxConnections
            self.maxConnectionsPerPeer = maxConnectionsPerPeer
            self.idleTimeout = idleTimeout
            self.prefaceTimeout = prefaceTimeout
            self.shutdownGracePeriod = shutdownGracePeriod
            self.shutdownDelay = shutdownDelay
            self.maxUnsentBytesPerConnection = maxUnsentBytesPerConnection
            self.maxUnsentBytes = maxUnsentBytes
            self.maxIncompleteFrameBytes = maxIncompleteFrameBytes
            self.handlerExecution = handlerExecution
            self.interceptors = interceptors
        }
    }

    /// The serving status reported by the health service every server hosts.
    public let health: HealthProvider
    let core: ServerCore
    private let group: any EventLoopGroup
    private let addressPromise: EventLoopPromise<SocketAddress>
    private let state = Mutex(LifecycleState())

    private struct LifecycleState {
        var serverChannel: (any Channel)?
        var started = false
        var shutdownRequested = false
        var finished: EventLoopPromise<Void>?
    }

    /// A server hosting `services`, the health service and (unless turned off) reflection.
    public init(services: [any RPCService], configuration: Configuration = Configuration(), logger: Logger = Logger(label: "souk.rpc.server"),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        let health = HealthProvider()
        self.health = health
        self.group = eventLoopGroup
        var hosted: [any RPCService] = services + [HealthServiceImplementation(provider: health)]
        if configuration.reflection {
            hosted.append(ReflectionServiceImplementation(services: hosted,
                                                          descriptorSets: configuration.descriptorSets))
        }
        self.core = ServerCore(services: hosted, health: health, configuration: configuration, logger: logger)
        self.addressPromise = eventLoopGroup.any().makePromise(of: SocketAddress.self)
    }

    /// The address the server listens on, once it does (e.g. to learn the port picked for port 0).
    public var listeningAddress: SocketAddress {
        get async throws { try await addressPromise.futureResult.get() }
    }

    /// Binds and serves until shut down; see the type's documentation.
    public func run() async throws {
        if !Self.largeAllocationsGoBackToTheSystem {
            core.logger.debug("large allocations stay with the allocator (not glibc)")
        }
        let finished = group.any().makePromise(of: Void.self)
        let alreadyStarted = state.withLock { state -> Bool in
            if state.started { return true }
            state.started = true
            state.finished = finished
            return false
        }
        if alreadyStarted {
            finished.succeed()
            throw RPCError(.failedPrecondition, "RPCServer.run() was called twice")
        }
        let core = self.core
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                // A client that shuts its sending side still gets the answers to its calls.
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try core.initialize(channel)
                    }
                }
                .bind(host: core.configuration.host, port: core.configuration.port)
                .get()
        } catch {
            addressPromise.fail(error)
            finished.succeed()
            throw RPCError(.unavailable, "the server could not listen on \(core.configuration.host):\(core.configuration.port): \(error)")
        }
        let stopNow = state.withLock { state -> Bool in
            state.serverChannel = channel
            return state.shutdownRequested
        }
        addressPromise.succeed(channel.localAddress!)
        core.logger.info("listening", metadata: ["address": "\(channel.localAddress!)"])
        if stopNow { beginGracefulShutdown() }
        // Finished once the listener and every connection closed.
        channel.closeFuture.whenComplete { _ in
            core.whenAllConnectionsClosed { finished.succeed() }
        }
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await finished.futureResult.get()
            } onCancel: {
                self.closeNow()
            }
        } onGracefulShutdown: {
            self.beginGracefulShutdown()
        }
    }

    /// Starts a graceful shutdown: health NOT_SERVING, then (after the shutdown
    /// delay) stop accepting, GOAWAY on every connection, close each once its
    /// accepted calls are answered or the grace period ends. ``run()`` returns when
    /// all is closed.
    public func beginGracefulShutdown() {
        let channel = state.withLock { state -> (any Channel)? in
            state.shutdownRequested = true
            return state.serverChannel
        }
        health.beginDraining()
        guard let channel else { return }
        let core = self.core
        let drain: @Sendable () -> Void = {
            channel.close(promise: nil)
            core.drainAllConnections()
        }
        if core.configuration.shutdownDelay > .zero {
            channel.eventLoop.scheduleTask(in: .init(core.configuration.shutdownDelay)) { drain() }
        } else {
            drain()
        }
    }

    /// Closes the listener and every connection at once, without GOAWAY: calls in
    /// flight end with UNAVAILABLE on their clients. For tests of a server that dies.
    public func closeNow() {
        let channel = state.withLock { state -> (any Channel)? in
            state.shutdownRequested = true
            return state.serverChannel
        }
        health.beginDraining()
        channel?.close(promise: nil)
        core.closeAllConnections()
    }
}

extension RPCServer {
    /// glibc's malloc raises its mmap threshold each time a large block is freed, up to
    /// 32 MiB, after which large frames and answers come from the heap and their pages
    /// are kept after use: a server that once held 200 partial 4 MiB frames would keep
    /// hundreds of MiB resident. A fixed threshold makes every block over 256 KiB its
    /// own mapping, given back when freed. Process-wide, set once by the first server.
    static let largeAllocationsGoBackToTheSystem: Bool = souk_malloc_fix_mmap_threshold(256 * 1024) == 1
}

extension TimeAmount {
    init(_ duration: Duration) {
        // Saturating: a configured duration of centuries must not trap.
        let (seconds, attoseconds) = duration.components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        self = overflow ? (seconds < 0 ? .nanoseconds(.min) : .nanoseconds(.max))
            : .nanoseconds(nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).overflow ? .max : nanoseconds + attoseconds / 1_000_000_000)
    }
}

/// A method as the server calls it: its router entry and its interceptor chain.
struct ServedMethod: Sendable {
    let method: RPCServerMethod
    let invoke: ServerInvocation
}

/// What every connection of a server shares: the method table, configuration,
/// logger, the registry of open connections (for limits and shutdown), the byte
/// budgets and the per-loop sweepers.
final class ServerCore: Sendable {
    let configuration: RPCServer.Configuration
    let logger: Logger
    let router: RPCRouter
    /// Keyed by the method name's UTF-8 bytes, so that a request's method, still a
    /// slice of the received frame, is looked up without making a String.
    let methods: [ByteBuffer: ServedMethod]
    let health: HealthProvider
    let budgets = ServerBudgets()
    private let protocolErrors: ProtocolErrorReporter
    private let sweepInterval: TimeAmount

    private struct Connections {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var perPeer: [String: Int] = [:]
        var draining = false
        var onAllClosed: [@Sendable () -> Void] = []
    }

    private let connections = Mutex(Connections())
    private let sweepers = Mutex<[ObjectIdentifier: ConnectionSweeper]>([:])

    init(services: [any RPCService], health: HealthProvider, configuration: RPCServer.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.health = health
        self.protocolErrors = ProtocolErrorReporter(logger: logger)
        self.sweepInterval = ConnectionSweeper.interval(for: configuration)
        let router = RPCRouter(services: services)
        self.router = router
        var methods: [ByteBuffer: ServedMethod] = [:]
        for method in router.methods {
            let logger = logger
            let base: ServerInvocation = { request, context in
                try await method.serve(request, context: context) { error in
                    // The caller gets a generic INTERNAL; the detail stays in the log.
                    logger.error("handler failed with an error that is not an RPCError",
                                 metadata: ["rpc.method": "\(method.descriptor.fullName)", "error": "\(String(reflecting: error))"])
                }
            }
            methods[ByteBuffer(string: method.descriptor.fullName)] =
                ServedMethod(method: method, invoke: configuration.interceptors.wrapping(base))
            health.register(service: method.descriptor.service)
        }
        self.methods = methods
    }

    /// Sets up a new connection's pipeline, or refuses it when over a limit.
    func initialize(_ channel: any Channel) throws {
        let id = ObjectIdentifier(channel)
        let peerAddress = channel.remoteAddress?.ipAddress
        let refusal = connections.withLock { connections -> String? in
            if connections.draining || connections.channels.count >= configuration.maxConnections {
                return "too many connections: this server accepts \(configuration.maxConnections)"
            }
            if let peerAddress {
                let count = connections.perPeer[peerAddress, default: 0]
                if count >= configuration.maxConnectionsPerPeer {
                    return "too many connections from \(peerAddress): this server accepts \(configuration.maxConnectionsPerPeer) from one address"
                }
                connections.perPeer[peerAddress] = count + 1
            }
            connections.channels[id] = channel
            return nil
        }
        if let refusal {
            try channel.pipeline.syncOperations.addHandler(ConnectionLimitHandler(reason: refusal))
            return
        }
        channel.closeFuture.whenComplete { _ in self.remove(id, peerAddress: peerAddress) }
        try channel.pipeline.syncOperations.addHandlers([
            ServerPrefaceHandler(),
            ServerConnectionHandler(core: self, eventLoop: channel.eventLoop, peerAddress: peerAddress),
        ])
    }

    private func remove(_ id: ObjectIdentifier, peerAddress: String?) {
        let callbacks = connections.withLock { connections -> [@Sendable () -> Void] in
            connections.channels[id] = nil
            if let peerAddress, let count = connections.perPeer[peerAddress] {
                connections.perPeer[peerAddress] = count > 1 ? count - 1 : nil
            }
            guard connections.draining, connections.channels.isEmpty else { return [] }
            defer { connections.onAllClosed = [] }
            return connections.onAllClosed
        }
        for callback in callbacks { callback() }
    }

    /// The sweeper of `eventLoop`'s connections, made on first use.
    func sweeper(for eventLoop: any EventLoop) -> ConnectionSweeper {
        sweepers.withLock { sweepers in
            let key = ObjectIdentifier(eventLoop)
            if let sweeper = sweepers[key] { return sweeper }
            let sweeper = ConnectionSweeper(eventLoop: eventLoop, interval: sweepInterval, budgets: budgets)
            sweepers[key] = sweeper
            return sweeper
        }
    }

    /// Counts a protocol error and logs it, at most a few lines a second for the whole server.
    func protocolErrorObserved(_ error: FramingError, peer: String) {
        protocolErrors.report(error, peer: peer)
    }

    /// Calls `body` once the listener is closed and no connection is left.
    func whenAllConnectionsClosed(_ body: @escaping @Sendable () -> Void) {
        let now = connections.withLock { connections -> Bool in
            connections.draining = true
            if connections.channels.isEmpty { return true }
            connections.onAllClosed.append(body)
            return false
        }
        if now { body() }
    }

    /// GOAWAY on every connection; each closes when its calls are answered.
    func drainAllConnections() {
        let channels = connections.withLock { connections -> [any Channel] in
            connections.draining = true
            return Array(connections.channels.values)
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ServerConnectionHandler.Drain())
        }
    }

    func closeAllConnections() {
        let channels = connections.withLock { connections -> [any Channel] in
            connections.draining = true
            return Array(connections.channels.values)
        }
        for channel in channels {
            channel.close(promise: nil)
        }
    }

    var connectionCount: Int { connections.withLock { $0.channels.count } }
}
