import ServiceLifecycle

/// Closes an RPC client when its service group shuts down. A group stops its services last
/// to first: list the closer before the services that call through the client, so that their
/// calls in flight can still finish.
public struct RPCClientCloser: Service {
    public let client: RPCClient

    public init(client: RPCClient) {
        self.client = client
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await client.close()
    }
}
