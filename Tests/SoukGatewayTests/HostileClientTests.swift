import Foundation
import NIOCore
import NIOPosix
import SoukGateway
import SoukRPCCore
import Testing

@Suite("Hostile HTTP clients: the gateway's connections are bounded per client and in time")
struct HostileClientTests {
    /// A connection held open, collecting what the gateway sends.
    struct HeldConnection {
        let channel: any Channel
        let collector: Collector

        static func open(port: Int) async throws -> HeldConnection {
            let collector = Collector()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { $0.pipeline.addHandler(collector) }
                .connect(host: "127.0.0.1", port: port).get()
            return HeldConnection(channel: channel, collector: collector)
        }

        /// One keep-alive GET /healthz, answered: the connection is surely admitted and counted.
        func healthCheck() async throws {
            try await send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for _ in 0..<500 {
                let text = try await channel.eventLoop.submit { String(decoding: self.collector.bytes, as: UTF8.self) }.get()
                if text.contains(#"{"status":"SERVING"}"#) { return }
                try await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("no answer to GET /healthz on a held connection")
        }

        func send(_ text: String) async throws {
            try await channel.writeAndFlush(ByteBuffer(string: text)).get()
        }

        /// Waits up to `limit` for the gateway to close the connection; what it sent, or nil if it is still open.
        func closedAnswer(within limit: Duration) async throws -> String? {
            let closed = channel.closeFuture
            let wasClosed = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await closed.get()) != nil }
                group.addTask {
                    try? await Task.sleep(for: limit)
                    return false
                }
                let first = await group.next()!
                group.cancelAll()
                return first
            }
            guard wasClosed else { return nil }
            return try await channel.eventLoop.submit { String(decoding: self.collector.bytes, as: UTF8.self) }.get()
        }
    }

    @Test("a client over its connection limit is answered 429 with a message and closed; the others and its own earlier ones go on")
    func connectionsPerClient() async throws {
        var limits = ConnectionLimits()
        limits.maxConnectionsPerClient = 3
        try await ForwardingTests.with(RecordingUsers(), limits: limits) { h, _ in
            var held: [HeldConnection] = []
            for _ in 0..<3 {
                let connection = try await HeldConnection.open(port: h.port)
                try await connection.healthCheck()
                held.append(connection)
            }
            let refused = try await HeldConnection.open(port: h.port)
            let answer = try #require(try await refused.closedAnswer(within: .seconds(5)), "the fourth connection stayed open")
            #expect(answer.hasPrefix("HTTP/1.1 429"), "\(answer)")
            #expect(answer.contains("too many connections from 127.0.0.1: at most 3 at once"), "\(answer)")
            // The held ones still serve.
            try await held[0].send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let served = try #require(try await held[0].closedAnswer(within: .seconds(5)))
            #expect(served.hasPrefix("HTTP/1.1 200") && served.components(separatedBy: "HTTP/1.1 200").count == 3, "\(served)")
            // The closed one's slot is given back: a new connection is served.
            var status = 0
            for _ in 0..<100 where status != 200 {
                status = try await h.request("GET", "/healthz").status
                if status != 200 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(status == 200)
            for connection in held { try? await connection.channel.close() }
        }
    }

    @Test("a request head sent a byte at a time does not keep its connection past the idle timeout")
    func slowHead() async throws {
        var limits = ConnectionLimits()
        limits.idleTimeout = .seconds(1)
        try await ForwardingTests.with(RecordingUsers(), limits: limits) { h, _ in
            let slow = try await HeldConnection.open(port: h.port)
            let started = ContinuousClock.now
            let trickle = Task {
                for byte in "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
                    try await slow.send(String(UnicodeScalar(byte)))
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            let closed = try await slow.closedAnswer(within: .seconds(6))
            trickle.cancel()
            #expect(closed != nil, "the trickling connection was still open after 6 s")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("a body that trickles in is answered 408 when its time is up, and the gateway goes on serving")
    func slowBody() async throws {
        try await ForwardingTests.with(RecordingUsers(), configure: { $0.bodyTimeout = .seconds(1) }) { h, _ in
            let slow = try await HeldConnection.open(port: h.port)
            try await slow.send("PATCH /v1/users/me HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"fu")
            let trickle = Task {
                for _ in 0..<20 {
                    try await slow.send(" ")
                    try await Task.sleep(for: .milliseconds(300))
                }
            }
            let answer = try #require(try await slow.closedAnswer(within: .seconds(5)), "no answer to a trickling body, or not closed")
            trickle.cancel()
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains("the request body did not arrive within 1"), "\(answer)")
            #expect(try await h.request("GET", "/healthz").status == 200)
        }
    }

    @Test("an X-Forwarded-For the client sends is not passed on: the services see its socket's address")
    func forwardedForIsNotTrusted() async throws {
        let users = RecordingUsers()
        try await ForwardingTests.with(users) { h, _ in
            _ = try await h.request("GET", "/v1/users/me", headers: [("X-Forwarded-For", "203.0.113.9")])
            let seen = try #require(users.seen.withLock { $0.first })
            #expect(seen.metadata.values(for: "x-forwarded-for") == [.text("127.0.0.1")])
        }
    }
}
