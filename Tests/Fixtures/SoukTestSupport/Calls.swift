import SoukRPCCore
import Testing

/// The RPCError `body` throws; the test fails when it throws none, or another error.
public func rpcError(sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () async throws -> Void) async throws -> RPCError {
    try await #require(throws: RPCError.self, sourceLocation: sourceLocation) { try await body() }
}

/// Call options carrying `authorization: Bearer <token>`, and a timeout when one is given.
public func bearer(_ token: String, timeout: Duration? = nil) -> CallOptions {
    CallOptions(timeout: timeout, metadata: Metadata(["authorization": "Bearer \(token)"]))
}
