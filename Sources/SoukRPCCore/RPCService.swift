import SoukProtobuf

/// One rpc a server can serve, with its request and response types erased so a
/// router can hold the methods of every service in one table.
public struct RPCServerMethod: Sendable {
    public let descriptor: MethodDescriptor
    public let requestType: any ProtoMessage.Type
    private let handler: @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage

    /// A unary method served by `handler`.
    public static func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ descriptor: MethodDescriptor,
        request: Request.Type = Request.self,
        response: Response.Type = Response.self,
        _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) -> RPCServerMethod {
        RPCServerMethod(descriptor: descriptor, requestType: Request.self) { request, context in
            // The router only hands a method requests it decoded with its own `requestType`.
            try await handler(request as! Request, context)
        }
    }

    private init(descriptor: MethodDescriptor, requestType: any ProtoMessage.Type,
                 handler: @escaping @Sendable (any ProtoMessage, ServerContext) async throws -> any ProtoMessage) {
        self.descriptor = descriptor
        self.requestType = requestType
        self.handler = handler
    }

    /// Decodes the binary request; bytes that are not a valid request are INVALID_ARGUMENT.
    public func decodeRequest(_ bytes: UnsafeRawBufferPointer) throws(RPCError) -> any ProtoMessage {
        do {
            return try requestType.init(serializedBytes: bytes)
        } catch let error as ProtoBinaryError {
            throw RPCError(.invalidArgument, "the request to \(descriptor.fullName) could not be decoded: \(error.message)")
        } catch {
            throw RPCError(.invalidArgument, "the request to \(descriptor.fullName) could not be decoded")
        }
    }

    /// Runs the handler with `context` as the task's ``ServerContext/current``.
    /// A thrown ``RPCError`` is the answer; any other error is INTERNAL with a
    /// generic message, so that no internal detail reaches the caller.
    public func serve(_ request: any ProtoMessage, context: ServerContext) async throws(RPCError) -> any ProtoMessage {
        try await serve(request, context: context, onInternalError: { _ in })
    }

    /// Like ``serve(_:context:)``, and hands any error that is not an ``RPCError``
    /// to `onInternalError` before answering INTERNAL, so that a server can log the
    /// detail it does not send.
    public func serve(_ request: any ProtoMessage, context: ServerContext,
                      onInternalError: (any Error) -> Void) async throws(RPCError) -> any ProtoMessage {
        do {
            return try await ServerContext.$current.withValue(context) {
                try await handler(request, context)
            }
        } catch let error as RPCError {
            throw error
        } catch is CancellationError {
            throw RPCError(.cancelled, "the call to \(descriptor.fullName) was cancelled")
        } catch {
            onInternalError(error)
            throw RPCError(.internal, "internal error while serving \(descriptor.fullName)")
        }
    }
}

/// A service a server hosts: the generated handler protocols conform and list their methods.
public protocol RPCService: Sendable {
    var methods: [RPCServerMethod] { get }
}

/// Routes calls by full method name to the methods of the registered services.
public struct RPCRouter: Sendable {
    private var methodsByName: [String: RPCServerMethod] = [:]
    private var serviceNames: Set<String> = []

    public init() {}

    public init(services: [any RPCService]) {
        for service in services { register(service) }
    }

    /// Adds every method of `service`; a later registration of the same method replaces the earlier.
    public mutating func register(_ service: any RPCService) {
        for method in service.methods {
            methodsByName[method.descriptor.fullName] = method
            serviceNames.insert(method.descriptor.service)
        }
    }

    /// The method named `fullName` (`/package.Service/Method`), or UNIMPLEMENTED naming what is missing.
    public func method(named fullName: String) throws(RPCError) -> RPCServerMethod {
        if let method = methodsByName[fullName] { return method }
        let parts = fullName.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw RPCError(.unimplemented, "malformed method name \"\(fullName)\": expected /package.Service/Method")
        }
        if !serviceNames.contains(String(parts[1])) {
            throw RPCError(.unimplemented, "unknown service \(parts[1])")
        }
        throw RPCError(.unimplemented, "unknown method \(parts[2]) of service \(parts[1])")
    }

    /// Every registered method, sorted by full name.
    public var methods: [RPCServerMethod] {
        methodsByName.values.sorted { $0.descriptor.fullName < $1.descriptor.fullName }
    }
}
