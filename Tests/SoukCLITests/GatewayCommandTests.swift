import ArgumentParser
@testable import SoukGatewayCommand
import Testing

@Suite("souk gateway: where it listens")
struct GatewayCommandTests {
    func listenAddress(_ arguments: [String], environment: [String: String] = [:]) throws -> (host: String, port: Int) {
        try GatewayCommand.parse(arguments).listenAddress { environment[$0] }
    }

    @Test("the options, else SOUK_GATEWAY_ADDRESS, else 127.0.0.1:8080")
    func precedence() throws {
        #expect(try listenAddress([]) == ("127.0.0.1", 8080))
        #expect(try listenAddress([], environment: ["SOUK_GATEWAY_ADDRESS": "0.0.0.0:9000"]) == ("0.0.0.0", 9000))
        #expect(try listenAddress([], environment: ["SOUK_GATEWAY_ADDRESS": "[::1]:9001"]) == ("::1", 9001))
        #expect(try listenAddress(["--port", "9002"], environment: ["SOUK_GATEWAY_ADDRESS": "0.0.0.0:9000"]) == ("0.0.0.0", 9002))
        #expect(try listenAddress(["--host", "127.0.0.2", "--port", "0"]) == ("127.0.0.2", 0))
    }

    @Test("SOUK_GATEWAY_ADDRESS is one host:port: a list or a malformed address is refused, naming it",
          arguments: ["127.0.0.1:8080,127.0.0.1:8081", "127.0.0.1", ":8080", "gateway:http", "127.0.0.1:70000"])
    func malformedAddress(address: String) throws {
        let error = try #require(throws: ValidationError.self) {
            try listenAddress([], environment: ["SOUK_GATEWAY_ADDRESS": address])
        }
        #expect(error.message.contains("SOUK_GATEWAY_ADDRESS must be one host:port") && error.message.contains(address), "\(error.message)")
    }

    @Test("--port out of range is refused")
    func badPort() throws {
        #expect(throws: ValidationError.self) { try listenAddress(["--port", "65536"]) }
    }
}
