import SoukProtobuf
import SoukRPCCore

/// Runs around every call a server serves: logs, measures, authenticates, or
/// answers in place of the handler.
///
/// An interceptor calls `next` to go on (possibly with a changed request or
/// context) or throws an ``RPCError`` to end the call with that status. The
/// server builds each method's chain once, at start-up, so an interceptor costs
/// a call frame per call, not an allocation.
public protocol ServerInterceptor: Sendable {
    func intercept(
        _ request: any ProtoMessage, context: ServerContext,
        next: @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage
}

/// Runs around every call a client makes: adds credentials, logs, measures.
///
/// `next` sends the call (with the options given to it, so that an interceptor
/// can add metadata) and returns the decoded response or throws ``RPCError``.
public protocol ClientInterceptor: Sendable {
    func intercept(
        _ request: any ProtoMessage, method: MethodDescriptor, options: CallOptions,
        next: @Sendable (any ProtoMessage, MethodDescriptor, CallOptions) async throws -> any ProtoMessage
    ) async throws -> any ProtoMessage
}

/// The type of a server method's whole chain: interceptors, then the handler.
typealias ServerInvocation = @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage

extension Array where Element == any ServerInterceptor {
    /// `handler` wrapped in these interceptors, the first outermost.
    func wrapping(_ handler: @escaping ServerInvocation) -> ServerInvocation {
        reversed().reduce(handler) { next, interceptor in
            { request, context in try await interceptor.intercept(request, context: context, next: next) }
        }
    }
}
