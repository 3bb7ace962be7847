import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SoukHTTPLimits
import SoukProtobuf

/// Whether a process can take traffic, and if not, why.
public struct Readiness: Sendable {
    /// What is not ready, one phrase each (`database: connection refused`); empty when ready.
    public var problems: [String]

    public init(problems: [String] = []) {
        self.problems = problems
    }

    public var isReady: Bool { problems.isEmpty }
}

/// The small HTTP server beside a service's RPC port, for probes and scrapers:
/// `GET /healthz` (the process is alive and serving HTTP), `GET /readyz` (200 when it can
/// take traffic, else 503 with the reasons) and `GET /metrics` (Prometheus text).
public struct AdminServer: Service {
    public let host: String
    public let port: Int
    let responder: AdminResponder
    let logger: Logger

    /// `readiness` is asked on every `/readyz`; it should answer within a second or two.
    public init(host: String, port: Int, registry: PrometheusCollectorRegistry = ProcessMetrics.registry,
                logger: Logger, readiness: @escaping @Sendable () async -> Readiness) {
        self.host = host
        self.port = port
        self.responder = AdminResponder(registry: registry, readiness: readiness)
        self.logger = logger
    }

    /// Connections the admin port holds in all, and from one client address.
    public static let maxConnections = 64
    public static let maxConnectionsPerClient = 16

    public func run() async throws {
        let (host, logger) = (self.host, self.logger)
        // Probes and scrapers hold a few short connections: a client that floods the port or
        // never finishes a request is bounded by these, not by the service's own limits, and
        // one address cannot take every connection from the kubelet's probes.
        let counter = ClientConnectionCounter(limitPerClient: Self.maxConnectionsPerClient)
        let app = Application(
            responder: responder,
            server: .http1(configuration: .init(additionalChannelHandlers: [counter.handler()], idleTimeout: .seconds(30))),
            configuration: .init(address: .hostname(host, port: port), serverName: "souk-admin",
                                 availableConnectionsDelegate: .maximum(Self.maxConnections, logger: logger)),
            onServerRunning: { channel in
                logger.notice("admin HTTP listening (/healthz, /readyz, /metrics)",
                              metadata: ["address": "\(host):\(channel.localAddress?.port ?? 0)"])
            },
            logger: logger)
        try await app.run()
    }
}

struct AdminResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let registry: PrometheusCollectorRegistry
    let readiness: @Sendable () async -> Readiness

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            var response = Self.json(405, #"{"message":"the admin endpoints take GET only"}"#)
            response.headers[.allow] = "GET, HEAD"
            return response
        }
        switch request.uri.path {
        case "/healthz":
            return Self.json(200, #"{"status":"SERVING"}"#)
        case "/readyz":
            let readiness = await readiness()
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("status")
            writer.value(readiness.isReady ? "SERVING" : "NOT_SERVING")
            if !readiness.isReady {
                writer.key("message")
                writer.value("not ready: " + readiness.problems.joined(separator: "; "))
            }
            writer.endObject()
            return Self.json(readiness.isReady ? 200 : 503, writer.string)
        case "/metrics":
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: registry.emitToString())))
        default:
            return Self.json(404, #"{"message":"no such admin endpoint; there are /healthz, /readyz and /metrics"}"#)
        }
    }

    static func json(_ status: Int, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
