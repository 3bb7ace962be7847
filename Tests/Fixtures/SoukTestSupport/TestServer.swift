import Logging
import SoukRPC
import SoukRPCCore
import Synchronization

/// A real RPC server on 127.0.0.1 and a free port, for one test: `body` gets a client
/// connected to it; the server is stopped when `body` ends, however it ends.
public enum TestServer {
    public static func with<Result>(services: [any RPCService], logger: Logger = TestSchema.logger,
                                    _ body: (_ client: RPCClient, _ server: RPCServer) async throws -> Result) async throws -> Result {
        let server = RPCServer(services: services, configuration: .init(host: "127.0.0.1", port: 0), logger: logger)
        let running = Task { try await server.run() }
        let port: Int
        do {
            port = try await server.listeningAddress.port!
        } catch {
            server.closeNow()
            _ = try? await running.value
            throw error
        }
        let client = RPCClient(host: "127.0.0.1", port: port)
        let result: Result
        do {
            result = try await body(client, server)
        } catch {
            await client.close()
            server.closeNow()
            _ = try? await running.value
            throw error
        }
        await client.close()
        server.beginGracefulShutdown()
        _ = try? await running.value
        return result
    }
}

/// A real RPC server on 127.0.0.1 that a test can stop and start again on the same port, as
/// a peer service going down and coming back.
public final class RestartableServer: Sendable {
    public let port: Int
    private let services: [any RPCService]
    private let current: Mutex<(server: RPCServer, task: Task<Void, any Error>)?>

    /// Starts serving `services` on a free port.
    public init(services: [any RPCService]) async throws {
        self.services = services
        let (server, task) = Self.launch(services, port: 0)
        do {
            port = try await server.listeningAddress.port!
        } catch {
            server.closeNow()
            _ = try? await task.value
            throw error
        }
        current = Mutex((server, task))
    }

    public var endpoint: RPCClient.Endpoint { RPCClient.Endpoint(host: "127.0.0.1", port: port) }

    /// Stops the server at once (connections closed, calls in flight failed), as a crash would.
    public func stop() async {
        guard let running = current.withLock({ current in defer { current = nil }; return current }) else { return }
        running.server.closeNow()
        _ = try? await running.task.value
    }

    /// Serves again on the same port.
    public func start() async throws {
        let (server, task) = Self.launch(services, port: port)
        current.withLock { $0 = (server, task) }
        _ = try await server.listeningAddress
    }

    private static func launch(_ services: [any RPCService], port: Int) -> (RPCServer, Task<Void, any Error>) {
        let server = RPCServer(services: services, configuration: .init(host: "127.0.0.1", port: port), logger: TestSchema.logger)
        return (server, Task { try await server.run() })
    }
}
