import SoukRPCCore

/// The interop test service as `interop.proto` describes it; served by
/// `souk-interop-server`, the RPC tests and the benchmark's echo server.
public struct InteropHandler: InteropService.Handler {
    public init() {}

    public func emptyCall(_ request: InteropEmpty, context: ServerContext) async throws -> InteropEmpty {
        InteropEmpty()
    }

    public func unaryCall(_ request: SimpleRequest, context: ServerContext) async throws -> SimpleResponse {
        guard (0...4_000_000).contains(request.responseSize) else {
            throw RPCError(.invalidArgument, "response_size must be between 0 and 4000000, not \(request.responseSize)")
        }
        guard (0...600_000).contains(request.sleepMs) else {
            throw RPCError(.invalidArgument, "sleep_ms must be between 0 and 600000, not \(request.sleepMs)")
        }
        if request.sleepMs > 0 {
            // Ends early with CancellationError when the call is cancelled or its deadline passes.
            try await Task.sleep(for: .milliseconds(Int64(request.sleepMs)))
        }
        // gRPC's custom_metadata case: x-echo- entries come back as trailing metadata, on success and failure alike.
        for (key, value) in context.metadata where key.hasPrefix("x-echo-") {
            context.trailingMetadata.append(key, value)
        }
        if let status = request.responseStatus, status.code != 0 {
            throw RPCError(RPCStatusCode(wireValue: status.code), status.message)
        }
        var response = SimpleResponse()
        response.payload = request.responseSize > 0 ? [UInt8](repeating: 0, count: Int(request.responseSize)) : request.payload
        if request.echoMetadata {
            response.echoedMetadata = context.metadata.map { key, value in
                var entry = InteropMetadataEntry()
                entry.key = key
                switch value {
                case .text(let text): entry.value = .text(text)
                case .binary(let bytes): entry.value = .binary(bytes)
                }
                return entry
            }
        }
        return response
    }
}
