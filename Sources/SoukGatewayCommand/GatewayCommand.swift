#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SoukContracts
import SoukGateway
import SoukObservability
import SoukRPC
import SoukRPCCore

/// `souk gateway` (and the `souk-gateway` executable): the REST bridge (HTTP/JSON) in front of
/// the three services, until SIGTERM or SIGINT.
public struct GatewayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the REST bridge: HTTP/JSON in front of the users, orders and payments services.",
        discussion: """
            Settings come from options, or else from the environment: SOUK_GATEWAY_ADDRESS (host:port \
            to listen on), SOUK_USERS_ADDRESS, SOUK_ORDERS_ADDRESS, SOUK_PAYMENTS_ADDRESS (each \
            host:port, several joined by commas). Routes: the REST table of the contracts, \
            /healthz, /readyz, /metrics, /openapi.json and /docs.
            """)

    @Option(help: "The address to listen on (else SOUK_GATEWAY_ADDRESS's host; default 127.0.0.1).") public var host: String?
    @Option(help: "The port to listen on (else SOUK_GATEWAY_ADDRESS's port; default 8080; 0: any free port).") public var port: Int?
    @Option(help: "The users service: host:port, several joined by commas (default 127.0.0.1:50051).") public var usersAddress: String?
    @Option(help: "The orders service (default 127.0.0.1:50052).") public var ordersAddress: String?
    @Option(help: "The payments service (default 127.0.0.1:50053).") public var paymentsAddress: String?
    @Option(help: "Seconds a call may take when the request sets no Grpc-Timeout.") public var defaultTimeoutSeconds = 10
    @Option(help: "The largest request body, in bytes.") public var maxBodyBytes = 1 << 20
    @Option(help: "Connections kept to each endpoint of a service; calls are multiplexed on them (default: one per event loop, \(NIOSingletons.groupLoopCountSuggestion) here).")
    public var connectionsPerEndpoint: Int?
    @Option(help: "Seconds a request body may take to arrive, whole.") public var bodyTimeoutSeconds = 30
    @Option(help: "Seconds a connection may sit without a complete request part before it is closed.")
    public var idleTimeoutSeconds = 60
    @Option(help: "Connections in all.") public var maxConnections = 10_000
    @Option(help: "Connections from one client address; past it a new one is answered 429.")
    public var maxConnectionsPerClient = 256
    @OptionGroup(title: "Logs") public var logs: LogOptions

    public init() {}

    public func validate() throws {
        guard (1...300).contains(defaultTimeoutSeconds) else {
            throw ValidationError("--default-timeout-seconds must be 1 to 300, not \(defaultTimeoutSeconds)")
        }
        if let connectionsPerEndpoint, !(1...64).contains(connectionsPerEndpoint) {
            throw ValidationError("--connections-per-endpoint must be 1 to 64, not \(connectionsPerEndpoint)")
        }
        for (name, value, range) in [("--body-timeout-seconds", bodyTimeoutSeconds, 1...3600),
                                     ("--idle-timeout-seconds", idleTimeoutSeconds, 1...86_400),
                                     ("--max-connections", maxConnections, 1...1_000_000),
                                     ("--max-connections-per-client", maxConnectionsPerClient, 1...1_000_000)]
        where !range.contains(value) {
            throw ValidationError("\(name) must be \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
        guard (1024...(64 << 20)).contains(maxBodyBytes) else {
            throw ValidationError("--max-body-bytes must be 1024 to 67108864, not \(maxBodyBytes)")
        }
    }

    /// The variable's value, nil when unset or empty.
    static func environment(_ variable: String) -> String? {
        guard let value = getenv(variable).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return value
    }

    /// `host:port,host:port`: the endpoints of a service's replicas.
    static func endpoints(_ text: String, _ variable: String, option: String) throws -> [RPCClient.Endpoint] {
        do {
            return try RPCClient.Endpoint.list(parsing: text)
        } catch {
            throw ValidationError("\(option) (\(variable)): \"\(error.part)\" is not host:port; give one or more, joined by commas")
        }
    }

    /// Where to listen: the options, else SOUK_GATEWAY_ADDRESS (read through `environment`),
    /// else 127.0.0.1:8080.
    func listenAddress(environment: (String) -> String? = Self.environment) throws -> (host: String, port: Int) {
        var (host, port) = ("127.0.0.1", 8080)
        if let address = environment("SOUK_GATEWAY_ADDRESS") {
            // One address to listen on: a list (which the services' addresses may be) is refused.
            guard let endpoint = RPCClient.Endpoint(parsing: address) else {
                throw ValidationError("SOUK_GATEWAY_ADDRESS must be one host:port to listen on (e.g. 127.0.0.1:8080), not \"\(address)\"")
            }
            (host, port) = (endpoint.host, endpoint.port)
        }
        if let option = self.host { host = option }
        if let option = self.port {
            guard (0...65_535).contains(option) else { throw ValidationError("--port must be 0 to 65535, not \(option)") }
            port = option
        }
        return (host, port)
    }

    public func run() async throws {
        try await serve()
    }

    /// Serves until SIGTERM or SIGINT (what `run()` does, under a name no synchronous
    /// `ParsableCommand.run()` can shadow, for the souk-gateway executable).
    public func serve() async throws {
        try logs.bootstrap()
        let (host, port) = try listenAddress()
        let addresses = [
            (UsersService.serviceName, usersAddress, "SOUK_USERS_ADDRESS", "--users-address", "127.0.0.1:50051"),
            (OrdersService.serviceName, ordersAddress, "SOUK_ORDERS_ADDRESS", "--orders-address", "127.0.0.1:50052"),
            (PaymentsService.serviceName, paymentsAddress, "SOUK_PAYMENTS_ADDRESS", "--payments-address", "127.0.0.1:50053"),
        ]
        var clients: [RPCClient] = []
        var services: [String: any ClientTransport] = [:]
        for (service, option, variable, flag, fallback) in addresses {
            let text = option ?? Self.environment(variable) ?? fallback
            // The client's default, one connection per event loop, is what the gateway needs: a
            // request runs on the loop that read it (LoopBoundHTTP1Channel), and the client picks
            // the connection on the caller's loop, so a call is written and answered without
            // leaving that thread. With one connection in all, half the calls crossed to the
            // other loop and back: GET /v1/orders/{id} measured 9.5-10.0k req/s against
            // 10.3-12.0k with one per loop.
            let client = RPCClient(endpoints: try Self.endpoints(text, variable, option: flag),
                                   configuration: .init(connectionsPerEndpoint: connectionsPerEndpoint))
            clients.append(client)
            services[service] = client
        }
        // One registry for /metrics: the gateway's own metrics, and what the RPC clients
        // report through swift-metrics.
        let registry = ProcessMetrics.registry
        var configuration = Gateway.Configuration(services: services, metrics: registry)
        configuration.defaultTimeout = .seconds(defaultTimeoutSeconds)
        configuration.maxBodyBytes = maxBodyBytes
        configuration.bodyTimeout = .seconds(bodyTimeoutSeconds)
        let logger = Logger(label: "souk.gateway")
        let gateway = Gateway(configuration: configuration, logger: logger)
        var limits = ConnectionLimits()
        limits.maxConnections = maxConnections
        limits.maxConnectionsPerClient = maxConnectionsPerClient
        limits.idleTimeout = .seconds(idleTimeoutSeconds)
        let app = gateway.application(host: host, port: port, limits: limits, logger: logger) { bound in
            logger.notice("gateway listening", metadata: ["address": "\(host):\(bound)"])
        }
        // Stopped last to first: the HTTP server drains, then the clients close.
        let group = ServiceGroup(services: clients.map(RPCClientCloser.init) + [app],
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
