import Logging
import SoukRPC
import SoukRPCCore

/// A real RPC server on 127.0.0.1 and a free port, for one test: `body` gets a client
/// connected to it; the server is stopped when `body` ends, however it ends.
public enum TestServer {
    public static func with<Result>(services: [any RPCService],
                                    _ body: (_ client: RPCClient, _ server: RPCServer) async throws -> Result) async throws -> Result {
        let server = RPCServer(services: services, configuration: .init(host: "127.0.0.1", port: 0), logger: TestSchema.logger)
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
