import SoukProtobuf

/// Carries unary calls to a server and brings back the answers. The TCP
/// transport and the in-process transport both conform; generated client
/// stubs are written against this protocol only.
public protocol ClientTransport: Sendable {
    /// Sends `request` to `method` and returns the response, or throws ``RPCError``.
    func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ request: Request, method: MethodDescriptor, options: CallOptions, responseType: Response.Type
    ) async throws -> Response
}
