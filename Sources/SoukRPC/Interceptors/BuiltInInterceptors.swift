import Logging
import Metrics
import SoukProtobuf
import SoukRPCCore
import Synchronization

/// The status code a call ended with, for logs and metrics.
func statusCode(of error: any Error) -> RPCStatusCode {
    if let error = error as? RPCError { return error.code }
    if error is CancellationError { return .cancelled }
    return .internal
}

// MARK: - Logging

/// Logs one line per call: method, status code, duration, peer. Never payloads
/// or metadata values, which may hold personal data and credentials.
public struct ServerLoggingInterceptor: ServerInterceptor {
    public var logger: Logger
    /// The level of calls that succeeded; failures log at `warning` for server-side
    /// codes (INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE) and `info` for the rest.
    public var successLevel: Logger.Level

    public init(logger: Logger, successLevel: Logger.Level = .debug) {
        self.logger = logger
        self.successLevel = successLevel
    }

    public func intercept(
        _ request: any ProtoMessage, context: ServerContext,
        next: @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(context, code: .ok, message: nil, since: start)
            return response
        } catch {
            log(context, code: statusCode(of: error), message: (error as? RPCError)?.message, since: start)
            throw error
        }
    }

    private func log(_ context: ServerContext, code: RPCStatusCode, message: String?, since start: ContinuousClock.Instant) {
        let level: Logger.Level
        switch code {
        case .ok: level = successLevel
        case .internal, .unknown, .dataLoss, .unavailable: level = .warning
        default: level = .info
        }
        guard logger.logLevel <= level else { return }
        let elapsed = ContinuousClock.now - start
        var metadata: Logger.Metadata = [
            "rpc.method": "\(context.method.fullName)",
            "rpc.code": "\(code.name)",
            "rpc.duration_us": "\(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)",
            "rpc.peer": "\(context.peer)",
        ]
        if let requestID = context.metadata["x-request-id"] { metadata["request_id"] = "\(requestID)" }
        if let traceID = context.traceID { metadata["trace_id"] = "\(traceID)" }
        if let message { metadata["rpc.status_message"] = "\(message)" }
        logger.log(level: level, "rpc served", metadata: metadata)
    }
}

// MARK: - Metrics

/// Counts calls by method and status code, times them, and keeps a gauge of the
/// calls in flight, through swift-metrics (whatever backend the process bootstrapped).
///
/// Metric names: `<prefix>_calls_total` (counter; dimensions `method`, `code`),
/// `<prefix>_call_duration_seconds` (timer; dimension `method`), and
/// `<prefix>_calls_in_flight` (meter; dimension `method`). The metric objects are
/// made once per method and code, not per call.
public final class MetricsInterceptor: ServerInterceptor, ClientInterceptor {
    private struct Key: Hashable {
        var method: String
        var code: RPCStatusCode
    }

    private let prefix: String
    private let factory: any MetricsFactory
    private let counters = Mutex<[Key: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])
    private let inFlight = Mutex<[String: Meter]>([:])

    /// `prefix` is e.g. `souk_rpc_server` or `souk_rpc_client`; `factory` is the
    /// process's bootstrapped metrics backend unless a test passes its own.
    public init(prefix: String = "souk_rpc_server", factory: any MetricsFactory = MetricsSystem.factory) {
        self.prefix = prefix
        self.factory = factory
    }

    private func counter(_ method: String, _ code: RPCStatusCode) -> Counter {
        Self.cached(counters, Key(method: method, code: code)) {
            Counter(label: "\(prefix)_calls_total", dimensions: [("method", method), ("code", code.name)], factory: factory)
        }
    }

    private func timer(_ method: String) -> Timer {
        Self.cached(timers, method) {
            Timer(label: "\(prefix)_call_duration_seconds", dimensions: [("method", method)], factory: factory)
        }
    }

    private func meter(_ method: String) -> Meter {
        Self.cached(inFlight, method) {
            Meter(label: "\(prefix)_calls_in_flight", dimensions: [("method", method)], factory: factory)
        }
    }

    /// The metric kept under `key`, made by `make` the first time it is asked for.
    private static func cached<MetricKey: Hashable & Sendable, Metric: Sendable>(
        _ cache: borrowing Mutex<[MetricKey: Metric]>, _ key: MetricKey, make: () -> Metric
    ) -> Metric {
        cache.withLock { metrics in
            if let metric = metrics[key] { return metric }
            let metric = make()
            metrics[key] = metric
            return metric
        }
    }

    private func measure(_ method: String, _ body: () async throws -> any ProtoMessage) async throws -> any ProtoMessage {
        let meter = meter(method)
        meter.increment()
        let start = ContinuousClock.now
        defer {
            meter.decrement()
            timer(method).recordInterval(since: start)
        }
        do {
            let response = try await body()
            counter(method, .ok).increment()
            return response
        } catch {
            counter(method, statusCode(of: error)).increment()
            throw error
        }
    }

    public func intercept(
        _ request: any ProtoMessage, context: ServerContext,
        next: @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage {
        try await measure(context.method.fullName) { try await next(request, context) }
    }

    public func intercept(
        _ request: any ProtoMessage, method: MethodDescriptor, options: CallOptions,
        next: @Sendable (any ProtoMessage, MethodDescriptor, CallOptions) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage {
        try await measure(method.fullName) { try await next(request, method, options) }
    }
}

extension Timer {
    fileprivate func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}

// MARK: - Authentication

/// The hook where a service plugs in credential checks (e.g. the users service's
/// access-token verification).
///
/// For every call to a method not exempt, `verify` gets the `authorization`
/// metadata value (nil when absent) and the call's context; it throws
/// ``RPCError`` (typically UNAUTHENTICATED or PERMISSION_DENIED) to refuse the
/// call, or returns a context to go on with (e.g. with metadata it added, such
/// as the verified subject). Health checks are exempt by default.
public struct AuthenticationInterceptor: ServerInterceptor {
    public typealias Verify = @Sendable (_ authorization: String?, _ context: ServerContext) async throws -> ServerContext

    private let verify: Verify
    private let exemptServices: Set<String>
    private let exemptMethods: Set<String>

    public init(exemptServices: Set<String> = ["souk.rpc.v1.HealthService"], exemptMethods: Set<String> = [],
                verify: @escaping Verify) {
        self.verify = verify
        self.exemptServices = exemptServices
        self.exemptMethods = exemptMethods
    }

    public func intercept(
        _ request: any ProtoMessage, context: ServerContext,
        next: @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage {
        if exemptServices.contains(context.method.service) || exemptMethods.contains(context.method.fullName) {
            return try await next(request, context)
        }
        let verified = try await verify(context.metadata["authorization"], context)
        return try await next(request, verified)
    }
}

/// Adds `authorization: Bearer <token>` to every call a client makes, with the
/// token from `token` (called per call, so that it can refresh).
public struct BearerTokenInterceptor: ClientInterceptor {
    private let token: @Sendable () async throws -> String

    public init(token: @escaping @Sendable () async throws -> String) {
        self.token = token
    }

    public func intercept(
        _ request: any ProtoMessage, method: MethodDescriptor, options: CallOptions,
        next: @Sendable (any ProtoMessage, MethodDescriptor, CallOptions) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage {
        var options = options
        options.metadata.replace("authorization", "Bearer \(try await token())")
        return try await next(request, method, options)
    }
}

/// Logs one line per call a client makes: method, status code, duration.
public struct ClientLoggingInterceptor: ClientInterceptor {
    public var logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func intercept(
        _ request: any ProtoMessage, method: MethodDescriptor, options: CallOptions,
        next: @Sendable (any ProtoMessage, MethodDescriptor, CallOptions) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, method, options)
            logger.debug("rpc called", metadata: ["rpc.method": "\(method.fullName)", "rpc.code": "OK",
                                                  "rpc.duration": "\(ContinuousClock.now - start)"])
            return response
        } catch {
            logger.info("rpc called", metadata: ["rpc.method": "\(method.fullName)", "rpc.code": "\(statusCode(of: error).name)",
                                                 "rpc.duration": "\(ContinuousClock.now - start)"])
            throw error
        }
    }
}
