import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import SoukContracts
import SoukProtobuf
import SoukRPCCore
import SoukWire
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The REST bridge: HTTP/JSON in front of the services' RPC, from the generated route table
/// (``SoukRoutes``) and the contracts' proto3 JSON. It adds no route of its own beyond health
/// and documents; what a route does is what its rpc does.
public struct Gateway: HTTPResponder {
    public typealias Context = GatewayRequestContext

    public struct Configuration: Sendable {
        /// The services, by full name (`souk.users.v1.UsersService`): a client of each.
        public var services: [String: any ClientTransport]
        /// A call's deadline when the request sets none (`Grpc-Timeout`).
        public var defaultTimeout: Duration = .seconds(10)
        /// The longest deadline a request may ask for.
        public var maxTimeout: Duration = .seconds(300)
        /// The largest request body read, declared or streamed.
        public var maxBodyBytes = 1 << 20
        /// How long a request body may take to arrive, whole.
        public var bodyTimeout: Duration = .seconds(30)
        /// The deepest nesting of a request body.
        public var maxJSONDepth = 64
        /// How long `/readyz` waits for each service's health answer.
        public var readinessTimeout: Duration = .seconds(2)
        /// Where the gateway's metrics go, and what `/metrics` shows (with whatever else
        /// reports to the same registry, such as the RPC clients through swift-metrics).
        public var metrics: PrometheusCollectorRegistry

        public init(services: [String: any ClientTransport], metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
            self.services = services
            self.metrics = metrics
        }
    }

    let configuration: Configuration
    let logger: Logger
    private let matcher: RouteMatcher
    private let openAPI: [UInt8]
    private let documents: [String: (type: String, bytes: [UInt8])]
    private let metrics: GatewayMetrics

    public init(configuration: Configuration, routes: [HTTPRoute] = SoukRoutes.all,
                openAPIDocument: String = SoukRoutes.openAPIDocument, logger: Logger = Logger(label: "souk.gateway")) {
        self.configuration = configuration
        self.logger = logger
        self.matcher = RouteMatcher(routes: routes)
        self.openAPI = Array(openAPIDocument.utf8)
        self.documents = Self.loadDocuments()
        self.metrics = GatewayMetrics(registry: configuration.metrics)
    }

    /// The `/docs` page and its assets.
    static func loadDocuments() -> [String: (type: String, bytes: [UInt8])] {
        [
            "/docs": ("text/html; charset=utf-8", Array(DocsPage.html.utf8)),
            "/docs/docs.js": ("text/javascript; charset=utf-8", Array(DocsPage.script.utf8)),
            "/docs/docs.css": ("text/css; charset=utf-8", Array(DocsPage.style.utf8)),
        ]
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let requestID = Self.requestID(request.headers)
        var response: Response
        // The route's template (or the document's path), never the raw path: a bounded label.
        var label = "unmatched"
        do {
            response = try await route(request, requestID: requestID, context: context, label: &label)
        } catch let error as GatewayError {
            response = Self.errorResponse(error)
        } catch let error as RPCError {
            response = Self.errorResponse(GatewayError(error))
        } catch let error as ProtoJSONError {
            response = Self.errorResponse(GatewayError(error))
        } catch {
            logger.error("a request failed unexpectedly", metadata: ["request_id": "\(requestID)", "error": "\(error)"])
            response = Self.errorResponse(GatewayError(.internal, "the gateway failed to handle the request (request id \(requestID))"))
        }
        response.headers[Self.requestIDField] = requestID
        metrics.request(route: label, status: response.status.code, duration: ContinuousClock.now - started)
        return response
    }

    private func route(_ request: Request, requestID: String, context: Context, label: inout String) async throws -> Response {
        let path = request.uri.path
        let method = request.method.rawValue
        if method == "GET" {
            switch path {
            case "/healthz":
                label = "GET /healthz"
                return Self.json(200, Array(#"{"status":"SERVING"}"#.utf8))
            case "/readyz":
                label = "GET /readyz"
                return await readiness()
            case "/openapi.json":
                label = "GET /openapi.json"
                return Self.json(200, openAPI)
            case "/metrics":
                label = "GET /metrics"
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(status: .ok, headers: headers,
                                body: .init(byteBuffer: ByteBuffer(string: configuration.metrics.emitToString())))
            default:
                if let document = documents[path] {
                    label = "GET \(path)"
                    var headers = HTTPFields()
                    headers[.contentType] = document.type
                    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document.bytes)))
                }
            }
        }
        switch matcher.match(method: method, path: path) {
        case .none:
            throw GatewayError(.notFound, "no route for \(method) \(path); see /openapi.json for the routes")
        case .wrongVerb(let allowed):
            var error = GatewayError(.unimplemented, "\(path) does not take \(method); it takes \(allowed.joined(separator: ", "))")
            error.extraHeaders[.allow] = allowed.joined(separator: ", ")
            throw error.withStatus(405)
        case .route(let route, let routeLabel, let pathParameters):
            label = routeLabel
            return try await call(route, pathParameters: pathParameters, request: request, requestID: requestID, context: context)
        }
    }

    private func call(_ route: HTTPRoute, pathParameters: [String: String], request: Request,
                      requestID: String, context: Context) async throws -> Response {
        guard let transport = configuration.services[route.method.service] else {
            throw GatewayError(.unavailable, "the gateway has no address for \(route.method.service)")
        }
        let body = route.body.isEmpty ? nil : try await readBody(request, channel: context.channel)
        let json = try route.requestJSON(pathParameters: pathParameters, query: Self.query(request.uri.query), body: body)
        let options = CallOptions(timeout: try timeout(request.headers), metadata: metadata(request.headers, requestID: requestID, client: context.remoteAddress?.ipAddress))
        let answer: [UInt8]
        do {
            answer = try await route.send(request: json, transport: transport, options: options)
        } catch let error as RPCError {
            countCall(route, error.code)
            throw error
        }
        countCall(route, .ok)
        return Self.json(route.successStatus, answer)
    }

    private func countCall(_ route: HTTPRoute, _ code: RPCStatusCode) {
        metrics.call(service: route.method.service, method: route.method.method, code: code.name)
    }

    /// The body's JSON; nil when empty. Too large is 413 without reading past the limit.
    private func readBody(_ request: Request, channel: any Channel) async throws -> JSONValue? {
        let limit = configuration.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw GatewayError(.invalidArgument, "the request body is \(declared) bytes; the limit is \(limit) bytes").withStatus(413)
        }
        // A body that trickles in (a byte a second) would hold its connection and its task for
        // days under the size limit alone: it has a time limit too, checked as each part arrives
        // (no timer, no extra task per request); a body that stops arriving altogether is the
        // idle timeout's.
        let deadline = ContinuousClock.now + configuration.bodyTimeout
        var buffer = ByteBuffer()
        do {
            for try await part in request.body {
                guard buffer.readableBytes + part.readableBytes <= limit else {
                    throw GatewayError(.invalidArgument, "the request body is over the limit of \(limit) bytes").withStatus(413)
                }
                guard ContinuousClock.now <= deadline else {
                    var late = GatewayError(.deadlineExceeded,
                                            "the request body did not arrive within \(configuration.bodyTimeout); send it whole, at once")
                    // The rest of the body is not read: the connection cannot carry another request.
                    // Its input is shut, so that the server stops waiting for the body, answers
                    // and closes, rather than holding it until the idle timeout.
                    late.extraHeaders[.connection] = "close"
                    channel.close(mode: .input, promise: nil)
                    throw late.withStatus(408)
                }
                var part = part
                buffer.writeBuffer(&part)
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(.invalidArgument, "the request body could not be read: \(error)").withStatus(400)
        }
        if buffer.readableBytes == 0 { return nil }
        return try buffer.readableBytesView.withContiguousStorageIfAvailable { bytes in
            try JSONParser.parse(bytes, maxDepth: configuration.maxJSONDepth, maxBytes: limit)
        } ?? JSONParser.parse(Array(buffer.readableBytesView), maxDepth: configuration.maxJSONDepth, maxBytes: limit)
    }

    /// The call's metadata: the caller's credential and idempotency key, the trace context, and
    /// the client's address as `x-forwarded-for` (the socket's: whatever the client sent under
    /// that name is not passed on, so it cannot pose as another address).
    private func metadata(_ headers: HTTPFields, requestID: String, client: String?) -> Metadata {
        var metadata = Metadata()
        if let client { metadata.append("x-forwarded-for", client) }
        if let authorization = headers[.authorization] { metadata.append("authorization", authorization) }
        if let key = headers[Self.idempotencyKeyField] { metadata.append("idempotency-key", key) }
        metadata.append("traceparent", Self.traceparent(headers[Self.traceparentField]))
        if let state = headers[Self.tracestateField], state.utf8.count <= 512 { metadata.append("tracestate", state) }
        metadata.append("x-request-id", requestID)
        return metadata
    }

    /// The deadline a request asks for with `Grpc-Timeout` (`<digits><H|M|S|m|u|n>`), or the default.
    private func timeout(_ headers: HTTPFields) throws -> Duration {
        guard let text = headers[Self.grpcTimeoutField] else { return configuration.defaultTimeout }
        let digits = text.dropLast()
        guard let unit = text.last, (1...8).contains(digits.count), digits.allSatisfy(\.isASCIIDigit), let value = Int64(digits) else {
            throw GatewayError(.invalidArgument, "Grpc-Timeout must be 1 to 8 digits and a unit (H, M, S, m, u, n), e.g. 5S; found \(text)")
        }
        let duration: Duration
        switch unit {
        case "H": duration = .seconds(value * 3600)
        case "M": duration = .seconds(value * 60)
        case "S": duration = .seconds(value)
        case "m": duration = .milliseconds(value)
        case "u": duration = .microseconds(value)
        case "n": duration = .nanoseconds(value)
        default:
            throw GatewayError(.invalidArgument, "Grpc-Timeout's unit must be H, M, S, m, u or n; found \(unit)")
        }
        return min(duration, configuration.maxTimeout)
    }

    /// 200 when every service answers its health check SERVING, else 503 naming those that do not.
    private func readiness() async -> Response {
        let timeout = configuration.readinessTimeout
        let results = await withTaskGroup(of: (String, Bool).self) { group in
            for (name, transport) in configuration.services {
                group.addTask {
                    var check = HealthCheckRequest()
                    check.service = name
                    let answer = try? await HealthService.Client(transport: transport).check(check, options: .timeout(timeout))
                    return (name, answer?.status == .serving)
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let down = results.filter { !$0.value }.keys.sorted()
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("status")
        writer.value(down.isEmpty ? "SERVING" : "NOT_SERVING")
        writer.key("services")
        writer.beginObject()
        for name in results.keys.sorted() {
            writer.key(name)
            writer.value(results[name]! ? "SERVING" : "NOT_SERVING")
        }
        writer.endObject()
        if !down.isEmpty {
            writer.key("message")
            writer.value("not ready: \(down.joined(separator: ", ")) did not answer its health check")
        }
        writer.endObject()
        return Self.json(down.isEmpty ? 200 : 503, Array(writer.string.utf8))
    }

    // MARK: Helpers


    static let requestIDField = HTTPField.Name("X-Request-Id")!
    static let idempotencyKeyField = HTTPField.Name("Idempotency-Key")!
    static let traceparentField = HTTPField.Name("traceparent")!
    static let tracestateField = HTTPField.Name("tracestate")!
    static let grpcTimeoutField = HTTPField.Name("Grpc-Timeout")!

    static func json(_ status: Int, _ body: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func errorResponse(_ error: GatewayError) -> Response {
        var response = json(error.statusOverride ?? error.httpStatus, error.body)
        for field in error.extraHeaders { response.headers.append(field) }
        if error.code == .unauthenticated { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    /// The caller's `X-Request-Id` when it is a sensible one (1–128 printable ASCII), else a new UUID.
    static func requestID(_ headers: HTTPFields) -> String {
        if let given = headers[requestIDField], (1...128).contains(given.utf8.count),
           given.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            return given
        }
        // A random (version 4 layout) UUID's text, without Foundation's formatting.
        var hex = Array(randomHex(words: 2).utf8)
        hex[12] = UInt8(ascii: "4")
        hex[16] = Array("89ab".utf8)[Int(hex[16] % 4)]
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, digit) in hex.enumerated() {
            if [8, 12, 16, 20].contains(index) { text.append(UInt8(ascii: "-")) }
            text.append(digit)
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The caller's W3C `traceparent` when well formed, else a new one (a new trace, sampled).
    static func traceparent(_ given: String?) -> String {
        if let given {
            let parts = given.split(separator: "-", omittingEmptySubsequences: false)
            let hex = { (part: Substring, count: Int) in part.utf8.count == count && part.utf8.allSatisfy { Self.isLowerHex($0) } }
            if parts.count == 4, hex(parts[0], 2), parts[0] != "ff", hex(parts[1], 32), hex(parts[2], 16), hex(parts[3], 2),
               parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16) {
                return given
            }
        }
        return "00-\(randomHex(words: 2))-\(randomHex(words: 1))-01"
    }

    /// `words` random 64-bit words as lower-case hex: 16 digits each. (Cheap: one random word
    /// per 16 digits, no formatting machinery; this runs on every request.)
    static func randomHex(words: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(words * 16)
        for _ in 0..<words {
            var word = RandomWords.shared.next()
            for _ in 0..<16 {
                bytes.append(digits[Int(word >> 60)])
                word <<= 4
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isLowerHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }

    /// The query string's parameters in order, percent- and `+`-decoded; repeated names kept.
    static func query(_ query: String?) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in String(text.map { $0 == "+" ? " " : $0 }).removingPercentEncoding }
            guard let name = decode(parts[0]), !name.isEmpty else { return nil }
            return (name, parts.count > 1 ? decode(parts[1]) ?? String(parts[1]) : "")
        }
    }
}

extension GatewayError {
    /// The same error under another HTTP status than its code's (405, 413).
    func withStatus(_ status: Int) -> GatewayError {
        var copy = self
        copy.statusOverride = status
        return copy
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Random 64-bit words from the kernel's generator, read 128 at a time: every request gets a
/// new request id and trace id, and a `getrandom` call for each word (what
/// `SystemRandomNumberGenerator` makes) was 4 % of the gateway's CPU.
final class RandomWords: Sendable {
    static let shared = RandomWords()
    private static let batch = 128
    private let state = Mutex<(words: [UInt64], next: Int)>(([UInt64](repeating: 0, count: batch), batch))

    func next() -> UInt64 {
        state.withLock { state in
            if state.next == state.words.count {
                Self.refill(&state.words)
                state.next = 0
            }
            defer { state.next += 1 }
            return state.words[state.next]
        }
    }

    private static func refill(_ words: inout [UInt64]) {
        // glibc's arc4random_buf: one getrandom call for the whole batch, and it cannot fail.
        words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
    }
}
