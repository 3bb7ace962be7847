import SoukRPC
import Testing

@Suite("host:port as settings give it")
struct EndpointParsingTests {
    @Test("a name, an IPv4 address or a bracketed IPv6 address, then a port")
    func valid() {
        #expect(RPCClient.Endpoint(parsing: "users:50051") == .init(host: "users", port: 50051))
        #expect(RPCClient.Endpoint(parsing: "users.souk.svc.cluster.local:50051") == .init(host: "users.souk.svc.cluster.local", port: 50051))
        #expect(RPCClient.Endpoint(parsing: "127.0.0.1:1") == .init(host: "127.0.0.1", port: 1))
        #expect(RPCClient.Endpoint(parsing: "[::1]:65535") == .init(host: "::1", port: 65535))
        #expect(RPCClient.Endpoint(parsing: "[fe80::1%eth0]:50051") == .init(host: "fe80::1%eth0", port: 50051))
        #expect(RPCClient.Endpoint(parsing: "127.0.0.1:0", ports: 0...65_535) == .init(host: "127.0.0.1", port: 0))
    }

    @Test("anything else is refused", arguments: [
        "users", "users:", ":50051", "users:http", "users:0", "users:65536", "users:-1",
        "127.0.0.1:8080,127.0.0.1:8081", "::1:50051", "[::1:50051", "::1]:50051", "[]:50051",
        "us ers:50051", "usérs:50051", "users/x:50051", "[::1 ]:50051",
    ])
    func invalid(text: String) {
        #expect(RPCClient.Endpoint(parsing: text) == nil)
    }

    @Test("a list: parts joined by commas, spaces around them ignored; a bad part is named")
    func list() throws {
        #expect(try RPCClient.Endpoint.list(parsing: "a:1, b:2 ,[::1]:3") == [.init(host: "a", port: 1), .init(host: "b", port: 2), .init(host: "::1", port: 3)])
        let error = try #require(throws: RPCClient.Endpoint.ListError.self) { try RPCClient.Endpoint.list(parsing: "a:1,b") }
        #expect(error.part == "b")
    }
}
