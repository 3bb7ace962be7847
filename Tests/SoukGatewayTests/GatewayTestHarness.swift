import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import NIOCore
import NIOPosix
import SoukContracts
import SoukGateway
import SoukProtobuf
import SoukRPCCore
import SoukTestSupport
import Testing

/// The gateway on a free port of 127.0.0.1, in front of the three real services
/// (``TestSystem``); tests speak HTTP/1.1 to it over TCP.
struct GatewayTestHarness: Sendable {
    /// The services behind the gateway, when they are the real ones.
    var system: TestSystem! = nil
    let port: Int

    init(system: TestSystem, port: Int) {
        self.system = system
        self.port = port
    }

    init(port: Int) {
        self.port = port
    }

    static func with(_ body: (GatewayTestHarness) async throws -> Void) async throws {
        do {
            try await TestSystem.with { system in
                let gateway = Gateway(configuration: .init(services: [
                    UsersService.serviceName: system.usersTransport,
                    OrdersService.serviceName: system.ordersTransport,
                    PaymentsService.serviceName: system.paymentsTransport,
                ]), logger: TestSchema.logger)
                try await serve(gateway) { port, _ in
                    try await body(GatewayTestHarness(system: system, port: port))
                }
            }
        } catch is TestSchemaMissing {
            Issue.record(Comment(rawValue: TestSchema.missingDatabase))
        }
    }

    /// Runs `gateway` on a free port of 127.0.0.1 in a service group, as `souk-gateway` does;
    /// `body` gets the port and the group (to stop it gracefully). Stopped when `body` ends.
    static func serve(_ gateway: Gateway, limits: ConnectionLimits = ConnectionLimits(),
                      _ body: (_ port: Int, _ group: ServiceGroup) async throws -> Void) async throws {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = gateway.application(host: "127.0.0.1", port: 0, limits: limits, logger: TestSchema.logger) {
            portContinuation.yield($0)
        }
        let group = ServiceGroup(services: [app], logger: TestSchema.logger)
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            running.cancel()
            throw CancellationError()
        }
        do {
            try await body(port, group)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    /// One HTTP/1.1 exchange on a new connection.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> HTTPAnswer {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let bytes = body.map { Array($0.utf8) } ?? []
        if body != nil { head += "Content-Type: application/json\r\nContent-Length: \(bytes.count)\r\n" }
        return try await raw(Array((head + "\r\n").utf8) + bytes)
    }

    /// `request` with `Authorization: Bearer <token>`.
    func request(_ method: String, _ path: String, token: String, headers: [(String, String)] = [],
                 body: String? = nil) async throws -> HTTPAnswer {
        try await request(method, path, headers: [("Authorization", "Bearer \(token)")] + headers, body: body)
    }

    /// Sends `bytes` as they are, then reads the answer until the server closes (or `limit` passes).
    func raw(_ bytes: [UInt8], limit: Duration = .seconds(15)) async throws -> HTTPAnswer {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in channel.pipeline.addHandler(collector) }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        let closed = channel.closeFuture
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await closed.get() }
            group.addTask {
                try await Task.sleep(for: limit)
                try? await channel.close().get()
            }
            try await group.next()
            group.cancelAll()
        }
        return try HTTPAnswer(collector.bytes)
    }

    /// A new account through the REST surface, signed in: its id and access token.
    func signUp(_ name: String = "ada") async throws -> (id: String, token: String) {
        let email = "\(name)-\(UUID().uuidString.prefix(8))@example.com"
        let created = try await request("POST", "/v1/users",
                                        body: #"{"email":"\#(email)","password":"correct horse battery","fullName":"\#(name)"}"#)
        try #require(created.status == 201, "\(created)")
        let token = try await request("POST", "/v1/auth/tokens", body: #"{"email":"\#(email)","password":"correct horse battery"}"#)
        try #require(token.status == 200, "\(token)")
        return (try created.string("id"), try token.string("accessToken"))
    }
}

/// Collects every byte a connection receives.
final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private(set) var bytes: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

/// An HTTP/1.1 answer: status, headers (lower-cased names), body (its JSON when it has one).
struct HTTPAnswer: CustomStringConvertible {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    init(_ bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { throw RPCError(.internal, "no complete HTTP answer: \(text)") }
        let lines = text[..<end.lowerBound].split(separator: "\r\n")
        let statusLine = lines.first?.split(separator: " ") ?? []
        status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
        headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let payload = Array(text[end.upperBound...].utf8)
        let chunked = headers.contains { $0.name == "transfer-encoding" && $0.value == "chunked" }
        body = chunked ? Self.dechunk(payload) : payload
    }

    func header(_ name: String) -> String? { headers.first { $0.name == name.lowercased() }?.value }

    var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }

    /// The string member `key` of the body, nil when there is none.
    func str(_ key: String) -> String? {
        if case .string(let value)? = json[key] { return value }
        return nil
    }

    func string(_ key: String) throws -> String {
        guard case .string(let value)? = json[key] else { throw RPCError(.internal, "no string \(key) in \(self)") }
        return value
    }

    var description: String { "\(status) \(String(decoding: body, as: UTF8.self))" }

    /// The `field` of each entry of an error's `details`.
    var violationFields: [String] {
        guard case .array(let details)? = json["details"] else { return [] }
        return details.compactMap { detail -> String? in
            if case .string(let field)? = detail["field"] { return field }
            return nil
        }
    }

    static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var rest = bytes[...]
        while let lineEnd = rest.firstIndex(of: 0x0D), let size = Int(String(decoding: rest[rest.startIndex..<lineEnd], as: UTF8.self), radix: 16),
              size > 0 {
            let start = lineEnd + 2
            out += rest[start..<min(start + size, rest.endIndex)]
            rest = rest[min(start + size + 2, rest.endIndex)...]
        }
        return out
    }
}

extension JSONValue {
    /// The element at `index` of an array.
    subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }
}
