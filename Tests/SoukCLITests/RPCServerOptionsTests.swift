import ArgumentParser
import SoukCLI
import SoukRPC
import Testing

@Suite("RPC server options")
struct RPCServerOptionsTests {
    @Test("with no option given, the configuration is RPCServer's default")
    func defaults() throws {
        let options = try RPCServerOptions.parse([])
        let configuration = options.configuration(host: "127.0.0.1", port: 50051)
        let defaults = RPCServer.Configuration()
        #expect(configuration.limits == defaults.limits)
        #expect(configuration.maxConcurrentCallsPerConnection == defaults.maxConcurrentCallsPerConnection)
        #expect(configuration.maxConnections == defaults.maxConnections)
        #expect(configuration.maxConnectionsPerPeer == defaults.maxConnectionsPerPeer)
        #expect(configuration.idleTimeout == defaults.idleTimeout)
        #expect(configuration.prefaceTimeout == defaults.prefaceTimeout)
        #expect(configuration.shutdownGracePeriod == defaults.shutdownGracePeriod)
        #expect(configuration.shutdownDelay == defaults.shutdownDelay)
        #expect(configuration.maxUnsentBytesPerConnection == defaults.maxUnsentBytesPerConnection)
        #expect(configuration.maxUnsentBytes == defaults.maxUnsentBytes)
        #expect(configuration.maxIncompleteFrameBytes == defaults.maxIncompleteFrameBytes)
    }

    @Test("every limit PROTOCOL.md section 9 names is set by its option")
    func everyOption() throws {
        let options = try RPCServerOptions.parse([
            "--max-frame-bytes", "65536", "--max-header-bytes", "1024", "--max-concurrent-calls", "10",
            "--max-connections", "20", "--max-connections-per-peer", "3", "--idle-timeout-ms", "0",
            "--preface-timeout-ms", "500", "--grace-ms", "250", "--shutdown-delay-ms", "100",
            "--max-unsent-bytes-per-connection", "1000", "--max-unsent-bytes", "2000", "--max-incomplete-frame-bytes", "3000",
        ])
        let configuration = options.configuration(host: "0.0.0.0", port: 7)
        #expect(configuration.limits == FrameLimits(maxFrameLength: 65536, maxHeaderLength: 1024))
        #expect(configuration.maxConcurrentCallsPerConnection == 10)
        #expect(configuration.maxConnections == 20 && configuration.maxConnectionsPerPeer == 3)
        #expect(configuration.idleTimeout == nil)
        #expect(configuration.prefaceTimeout == .milliseconds(500))
        #expect(configuration.shutdownGracePeriod == .milliseconds(250) && configuration.shutdownDelay == .milliseconds(100))
        #expect(configuration.maxUnsentBytesPerConnection == 1000 && configuration.maxUnsentBytes == 2000)
        #expect(configuration.maxIncompleteFrameBytes == 3000)
        #expect(configuration.host == "0.0.0.0" && configuration.port == 7)
    }

    @Test("a limit out of range is refused, naming the option", arguments: [
        (["--max-connections-per-peer", "0"], "--max-connections-per-peer must be at least 1, not 0"),
        (["--grace-ms=-1"], "--grace-ms must be 0 or more, not -1"),
        (["--max-frame-bytes", "4"], "--max-frame-bytes must be at least 8"),
    ])
    func outOfRange(arguments: [String], message: String) {
        do {
            _ = try RPCServerOptions.parse(arguments)
            Issue.record("\(arguments) was accepted")
        } catch {
            #expect(RPCServerOptions.message(for: error).contains(message), "\(RPCServerOptions.message(for: error))")
        }
    }

    @Test("Souk's service commands run handlers on the event loop unless told --handlers pool")
    func handlerPlacement() throws {
        #expect(try RPCServerOptions.parse([]).configuration(host: "127.0.0.1", port: 1).handlerExecution == .eventLoop)
        #expect(try RPCServerOptions.parse(["--handlers", "pool"]).configuration(host: "127.0.0.1", port: 1).handlerExecution == .globalPool)
        #expect(throws: (any Error).self) { try RPCServerOptions.parse(["--handlers", "threads"]) }
    }
}
