import NIOCore
import NIOPosix
import SoukProtobuf
import SoukRPCCore
import Synchronization

/// A client of one Souk service over TCP, for generated stubs:
/// `OrdersService.Client(transport: RPCClient(host: "orders", port: 7002))`.
///
/// It keeps a small pool of connections (``Configuration/connectionsPerEndpoint``
/// to each endpoint, by default one per event loop), connects lazily on the first
/// call, gives a caller running on an event loop the connection of that loop,
/// spreads other calls round-robin over the endpoints (each caller keeping to one
/// connection of each), and reconnects after a
/// connection ends; an endpoint that refused a connection is left alone for a
/// jittered, exponentially growing backoff. When no endpoint can be reached a
/// call fails at once with UNAVAILABLE rather than waiting.
///
/// Each call honours its deadline (``CallOptions/timeout``, or the deadline
/// inherited from the handler making it) on this side too, and cancelling the
/// calling task sends Cancel and ends the call with CANCELLED at once. A call
/// that never reached a server (refused by a GOAWAY, or not yet written when a
/// connection ended) is retried on another connection; a call that may have
/// reached one is retried only when its method is idempotent.
public final class RPCClient: ClientTransport, Sendable {
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    /// Exponential backoff with jitter, for reconnects and retries.
    public struct Backoff: Sendable {
        public var initial: Duration
        public var maximum: Duration
        public var multiplier: Double
        /// The fraction by which each delay is randomly shortened or lengthened.
        public var jitter: Double

        public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(10), multiplier: Double = 1.6,
                    jitter: Double = 0.2) {
            self.initial = initial
            self.maximum = maximum
            self.multiplier = multiplier
            self.jitter = jitter
        }

        /// The delay before attempt `failures + 1`.
        public func delay(afterFailures failures: Int) -> Duration {
            let base = Double(initial.components.seconds) + Double(initial.components.attoseconds) / 1e18
            let cap = Double(maximum.components.seconds) + Double(maximum.components.attoseconds) / 1e18
            let raw = min(cap, base * pow(multiplier, Double(max(0, failures - 1))))
            let jittered = raw * (1 + Double.random(in: -jitter...jitter))
            return .nanoseconds(Int64(max(0, jittered) * 1e9))
        }
    }

    public struct Configuration: Sendable {
        /// Connections kept to each endpoint; calls are spread over them. Nil (the default):
        /// one per event loop of the client's group, so that a caller on an event loop (a
        /// handler on its connection's loop, a gateway request) finds a connection on its
        /// own thread and its call needs no hop to another loop. Each is made on first use.
        public var connectionsPerEndpoint: Int?
        /// How long a connection attempt may take.
        public var connectTimeout: Duration
        /// Frame limits for what the server sends.
        public var limits: FrameLimits
        /// Attempts per call, the first included, for the retries described on ``RPCClient``.
        public var maxAttempts: Int
        /// Between reconnects to an endpoint that refused.
        public var reconnectBackoff: Backoff
        /// Between the attempts of a retried call.
        public var retryBackoff: Backoff
        /// Interceptors around every call, the first outermost.
        public var interceptors: [any ClientInterceptor]

        public init(connectionsPerEndpoint: Int? = nil, connectTimeout: Duration = .seconds(2), limits: FrameLimits = .default,
                    maxAttempts: Int = 3, reconnectBackoff: Backoff = Backoff(),
                    retryBackoff: Backoff = Backoff(initial: .milliseconds(10), maximum: .seconds(1), multiplier: 2),
                    interceptors: [any ClientInterceptor] = []) {
            self.connectionsPerEndpoint = connectionsPerEndpoint.map { max(1, $0) }
            self.connectTimeout = connectTimeout
            self.limits = limits
            self.maxAttempts = max(1, maxAttempts)
            self.reconnectBackoff = reconnectBackoff
            self.retryBackoff = retryBackoff
            self.interceptors = interceptors
        }
    }

    public let endpoints: [Endpoint]
    public let configuration: Configuration
    private let slots: [ConnectionSlot]
    private let nextSlot = Atomic<Int>(0)
    private let nextExecutor = Atomic<Int>(0)

    /// A client spreading calls over `endpoints` (replicas of one service).
    public init(endpoints: [Endpoint], configuration: Configuration = Configuration(),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        precondition(!endpoints.isEmpty, "RPCClient needs at least one endpoint")
        self.endpoints = endpoints
        self.configuration = configuration
        let loops = Array(eventLoopGroup.makeIterator())
        var slots: [ConnectionSlot] = []
        for round in 0..<(configuration.connectionsPerEndpoint ?? loops.count) {
            for (index, endpoint) in endpoints.enumerated() {
                // Each endpoint's connections on different loops, and the endpoints' first ones too.
                let loop = loops[(round + index) % loops.count]
                slots.append(ConnectionSlot(endpoint: endpoint, eventLoop: loop, configuration: configuration))
            }
        }
        self.slots = slots
    }

    public convenience init(host: String, port: Int, configuration: Configuration = Configuration(),
                            eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.init(endpoints: [Endpoint(host: host, port: port)], configuration: configuration, eventLoopGroup: eventLoopGroup)
    }

    /// An executor on the event loop of one of this client's connections (round-robin).
    ///
    /// Tasks that prefer it (`Task(executorPreference:)`, `withTaskExecutorPreference`)
    /// make their calls without a thread hop: the call is written and its answer
    /// resumes the task on the connection's own thread. Worth it for callers that make
    /// many calls and do little else; a caller that computes for long would stall the
    /// connections on that loop.
    public func eventLoopExecutor() -> EventLoopTaskExecutor {
        let slot = slots[nextExecutor.add(1, ordering: .relaxed).oldValue % slots.count]
        return slot.taskExecutor
    }

    /// Closes every connection; calls in flight end with UNAVAILABLE, later calls fail at once.
    public func close() async {
        for slot in slots { await slot.close() }
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ request: Request, method: MethodDescriptor, options: CallOptions, responseType: Response.Type
    ) async throws -> Response {
        if configuration.interceptors.isEmpty {
            return try await perform(request, method: method, options: options, as: Response.self)
        }
        let base: @Sendable (any ProtoMessage, MethodDescriptor, CallOptions) async throws -> any ProtoMessage = { request, method, options in
            try await self.perform(request, method: method, options: options, as: Response.self)
        }
        let chain = configuration.interceptors.reversed().reduce(base) { next, interceptor in
            { request, method, options in try await interceptor.intercept(request, method: method, options: options, next: next) }
        }
        guard let response = try await chain(request, method, options) as? Response else {
            throw RPCError(.internal, "an interceptor answered \(method.fullName) with a message of the wrong type")
        }
        return response
    }

    /// A call whose request and response are bytes: for a caller that encodes messages itself
    /// (from descriptors: `souk call`). The client's interceptors do not run: they see messages.
    public func unary(bytes request: [UInt8], method: MethodDescriptor, options: CallOptions) async throws -> [UInt8] {
        try await perform(payload: ByteBuffer(bytes: request), method: method, options: options) { head, payload throws(RPCError) in
            guard head.code == 0 else {
                throw RPCError(RPCStatusCode(wireValue: head.code), head.message, details: head.details, metadata: head.metadata)
            }
            return Array(payload.readableBytesView)
        }
    }

    private func perform<Response: ProtoMessage>(
        _ request: any ProtoMessage, method: MethodDescriptor, options: CallOptions, as _: Response.Type
    ) async throws -> Response {
        let payload = try Self.serialize(request, method: method)
        return try await perform(payload: payload, method: method, options: options) { head, payload throws(RPCError) in
            try Self.decode(head, payload, method: method)
        }
    }

    private func perform<Answer>(
        payload: ByteBuffer, method: MethodDescriptor, options: CallOptions,
        answer: (ResponseHead, ByteBuffer) throws(RPCError) -> Answer
    ) async throws -> Answer {
        if Task.isCancelled { throw RPCError(.cancelled, "the call to \(method.fullName) was cancelled before it started") }
        let deadline = options.deadline()
        let nioDeadline = deadline.map { NIODeadline.now() + TimeAmount(max(.zero, $0 - .now)) }
        if let deadline, deadline <= .now {
            throw RPCError(.deadlineExceeded, "the deadline of \(method.fullName) passed before the call started")
        }
        let metadata = try options.checkedOutgoingMetadata(for: method)
        var attempt = 0
        while true {
            attempt += 1
            let handler: ClientConnectionHandler
            do {
                handler = try await connection(for: method)
            } catch {
                // No connection could be had: the call reached no server, so it may be retried
                // like a refused one, once the endpoints have had a moment (a replica draining,
                // another still connecting).
                guard attempt < configuration.maxAttempts else { throw error }
                let delay = configuration.retryBackoff.delay(afterFailures: attempt)
                if let deadline, deadline <= .now + delay { throw error }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    throw RPCError(.cancelled, "the call to \(method.fullName) was cancelled")
                }
                continue
            }
            let call = PendingCall(method: method.fullName, metadata: metadata, payload: payload, deadline: nioDeadline)
            let result = await withTaskCancellationHandler {
                await withUnsafeContinuation { continuation in
                    call.continuation = continuation
                    handler.submit(call)
                }
            } onCancel: {
                handler.cancel(call)
            }
            let retryable: RPCError
            switch result {
            case .response(let head, let payload):
                return try answer(head, payload)
            case .failed(let error):
                guard error.code == .unavailable, method.isIdempotent else { throw error }
                retryable = error
            case .unprocessed(let reason):
                retryable = RPCError(.unavailable, reason)
            }
            guard attempt < configuration.maxAttempts else { throw retryable }
            let delay = configuration.retryBackoff.delay(afterFailures: attempt)
            if let deadline, deadline <= .now + delay { throw retryable }
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw RPCError(.cancelled, "the call to \(method.fullName) was cancelled")
            }
        }
    }

    /// A connection that is up; else one being made or to be made now.
    ///
    /// Each caller has a connection of its own choice. A caller running on the event loop
    /// of a connection (see ``eventLoopExecutor()``, or a handler on its loop) prefers that
    /// one, so that its call needs no thread hop at all. Any other caller keeps to one
    /// connection per endpoint, chosen by its task, while the endpoints take turns: the
    /// callers a burst of answers resumed then send their next calls together, in one
    /// write, rather than one to each connection. When the preferred connection is not up,
    /// it is started, and meanwhile any connection that is up is taken.
    private func connection(for method: MethodDescriptor) async throws(RPCError) -> ClientConnectionHandler {
        let rotation = nextSlot.add(1, ordering: .relaxed).oldValue
        let count = slots.count
        var start = rotation
        if count > 1 {
            let current = MultiThreadedEventLoopGroup.currentEventLoop
            if let current, slots.contains(where: { $0.eventLoop === current }) {
                if let handler = connection(on: current, from: rotation) { return handler }
            } else if count > endpoints.count, let taskHash = withUnsafeCurrentTask(body: { $0?.hashValue }) {
                // Slots are laid out round by round, each round one slot per endpoint.
                let round = Int(UInt(bitPattern: taskHash) % UInt(count / endpoints.count))
                start = round * endpoints.count + rotation % endpoints.count
                let slot = slots[start]
                if let ready = slot.readyHandler { return ready }
                // Not up: start it, and meanwhile take any connection that is up.
                if case .ready(let handler) = slot.acquire() { return handler }
            }
        }
        for offset in 0..<count {
            if let ready = slots[(start &+ offset) % count].readyHandler { return ready }
        }
        var reasons: [String] = []
        for offset in 0..<count {
            let slot = slots[(start &+ offset) % count]
            switch slot.acquire() {
            case .ready(let handler):
                return handler
            case .connecting(let future):
                do {
                    return try await future.get()
                } catch {
                    reasons.append("\(slot.endpoint): \(error)")
                }
            case .unavailable(let reason):
                reasons.append(reason)
            }
        }
        let unique = Array(Set(reasons)).sorted()
        throw RPCError(.unavailable, "no connection to \(endpoints.map(\.description).joined(separator: ", ")) for \(method.fullName): \(unique.joined(separator: "; "))")
    }

    /// The first connection from `start` on that is up and on `loop`; the loop's connections
    /// passed over on the way, not up, are started (unless connecting or backing off), so that
    /// with several endpoints the loop's callers come to take turns among all of them. Nil
    /// tells the caller to take any connection that is up meanwhile.
    private func connection(on loop: any EventLoop, from start: Int) -> ClientConnectionHandler? {
        let count = slots.count
        for offset in 0..<count {
            let slot = slots[(start &+ offset) % count]
            guard slot.eventLoop === loop else { continue }
            if let ready = slot.readyHandler { return ready }
            if case .ready(let handler) = slot.acquire() { return handler }
        }
        return nil
    }

    private static func serialize(_ request: any ProtoMessage, method: MethodDescriptor) throws(RPCError) -> ByteBuffer {
        do {
            return try request.withPacker { size, pack in
                var buffer = ByteBufferAllocator().buffer(capacity: size)
                if size > 0 { buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { pack($0.baseAddress!) } }
                return buffer
            }
        } catch {
            throw RPCError(.invalidArgument, "the request to \(method.fullName) could not be encoded: \(error)")
        }
    }

    private static func decode<Response: ProtoMessage>(_ head: ResponseHead, _ payload: ByteBuffer, method: MethodDescriptor) throws(RPCError) -> Response {
        guard head.code == 0 else {
            throw RPCError(RPCStatusCode(wireValue: head.code), head.message, details: head.details, metadata: head.metadata)
        }
        do {
            return try payload.withUnsafeReadableBytes { try Response(serializedBytes: $0) }
        } catch {
            throw RPCError(.internal, "the response of \(method.fullName) is not a valid \(Response.protoMessageName): \(error)")
        }
    }
}

/// One connection of the pool: its state and its reconnect backoff.
final class ConnectionSlot: Sendable {
    enum Acquired {
        case ready(ClientConnectionHandler)
        case connecting(EventLoopFuture<ClientConnectionHandler>)
        case unavailable(String)
    }

    private enum State {
        case idle(failures: Int)
        case connecting(EventLoopFuture<ClientConnectionHandler>, failures: Int)
        case ready(ClientConnectionHandler, generation: Int)
        case backingOff(until: NIODeadline, failures: Int, error: String)
        case closed
    }

    let endpoint: RPCClient.Endpoint
    let eventLoop: any EventLoop
    let taskExecutor: EventLoopTaskExecutor
    private let configuration: RPCClient.Configuration
    /// The handler is only ever used through its thread-safe entry points
    /// (`submit`, `cancel`) outside its loop.
    private let state: Mutex<(state: State, generation: Int, channel: (any Channel)?)>

    init(endpoint: RPCClient.Endpoint, eventLoop: any EventLoop, configuration: RPCClient.Configuration) {
        self.endpoint = endpoint
        self.eventLoop = eventLoop
        self.taskExecutor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.configuration = configuration
        self.state = Mutex((.idle(failures: 0), 0, nil))
    }

    /// The handler of the connection when it is up; the fast path of every call.
    var readyHandler: ClientConnectionHandler? {
        state.withLock { state in
            if case .ready(let handler, _) = state.state { return handler }
            return nil
        }
    }

    func acquire() -> Acquired {
        let (acquired, connect) = state.withLock { state -> (Acquired, (promise: EventLoopPromise<ClientConnectionHandler>, generation: Int, failures: Int)?) in
            switch state.state {
            case .ready(let handler, _):
                return (.ready(handler), nil)
            case .connecting(let future, _):
                return (.connecting(future), nil)
            case .closed:
                return (.unavailable("the client is closed"), nil)
            case .backingOff(let until, _, let error):
                if NIODeadline.now() < until {
                    let wait = (until - .now()).nanoseconds / 1_000_000
                    return (.unavailable("\(endpoint): \(error) (next attempt in \(wait) ms)"), nil)
                }
                fallthrough
            case .idle:
                let failures: Int
                switch state.state {
                case .backingOff(_, let count, _), .idle(let count): failures = count
                default: failures = 0
                }
                let promise = eventLoop.makePromise(of: ClientConnectionHandler.self)
                state.generation += 1
                state.state = .connecting(promise.futureResult, failures: failures)
                return (.connecting(promise.futureResult), (promise, state.generation, failures))
            }
        }
        if let connect { startConnecting(connect.promise, generation: connect.generation, failures: connect.failures) }
        return acquired
    }

    private func startConnecting(_ promise: EventLoopPromise<ClientConnectionHandler>, generation: Int, failures: Int) {
        let endpoint = self.endpoint
        let limits = configuration.limits
        let eventLoop = self.eventLoop
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = ClientConnectionHandler(eventLoop: channel.eventLoop, peer: endpoint.description, limits: limits) { [weak self] event in
                        self?.connectionEvent(event, generation: generation)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        bootstrap.connect(host: endpoint.host, port: endpoint.port).whenComplete { result in
            switch result {
            case .success(let channel):
                let handler = try! channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
                let keep = self.state.withLock { state -> Bool in
                    guard state.generation == generation, case .connecting = state.state else { return false }
                    state.state = .ready(handler, generation: generation)
                    state.channel = channel
                    return true
                }
                if keep {
                    promise.succeed(handler)
                } else {
                    channel.close(promise: nil)
                    promise.fail(RPCError(.unavailable, "the client is closed"))
                }
            case .failure(let error):
                let delay = self.configuration.reconnectBackoff.delay(afterFailures: failures + 1)
                self.state.withLock { state in
                    guard state.generation == generation, case .connecting = state.state else { return }
                    state.state = .backingOff(until: .now() + TimeAmount(delay), failures: failures + 1, error: "\(error)")
                }
                promise.fail(RPCError(.unavailable, "could not connect to \(endpoint): \(error)"))
            }
        }
    }

    /// A connection of this slot went away or received GOAWAY: the next call makes a new one.
    private func connectionEvent(_ event: ClientConnectionHandler.Event, generation: Int) {
        state.withLock { state in
            guard state.generation == generation, case .ready = state.state else { return }
            state.state = .idle(failures: 0)
            state.channel = nil
        }
    }

    func close() async {
        let channel = state.withLock { state -> (any Channel)? in
            state.state = .closed
            state.generation += 1
            defer { state.channel = nil }
            return state.channel
        }
        if let channel {
            try? await channel.close()
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension RPCClient.Endpoint {
    /// A part of an endpoint list that is not `host:port`.
    public struct ListError: Error, Sendable {
        /// The part, trimmed.
        public let part: String
    }

    /// `host:port,host:port`: the endpoints of a service's replicas, as settings give them.
    /// Spaces around a part are ignored, and an IPv6 host is bracketed (`[::1]:50051`).
    public static func list(parsing text: String) throws(ListError) -> [RPCClient.Endpoint] {
        var endpoints: [RPCClient.Endpoint] = []
        for part in text.split(separator: ",") {
            let trimmed = String(part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            guard let endpoint = RPCClient.Endpoint(parsing: trimmed) else { throw ListError(part: trimmed) }
            endpoints.append(endpoint)
        }
        return endpoints
    }

    /// One `host:port`: a name or IPv4 address, or an IPv6 address in brackets (`[::1]:50051`);
    /// nil when the text is not that, or its port is outside `ports` (a listening address may
    /// allow 0, any free port).
    public init?(parsing text: some StringProtocol, ports: ClosedRange<Int> = 1...65_535) {
        guard let colon = text.lastIndex(of: ":"), colon > text.startIndex, let port = Int(text[text.index(after: colon)...]),
              ports.contains(port) else {
            return nil
        }
        var host = text[..<colon]
        if host.first == "[" {
            // A bracketed IPv6 literal, perhaps with a zone: `[fe80::1%eth0]`.
            guard host.last == "]", host.count > 2,
                  host.dropFirst().dropLast().allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ":.%-_".contains($0)) })
            else { return nil }
            host = host.dropFirst().dropLast()
        } else {
            // A name or an IPv4 address; an IPv6 address must be bracketed, or its last colon
            // would be taken for the port's.
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }) else {
                return nil
            }
        }
        self.init(host: String(host), port: port)
    }
}
