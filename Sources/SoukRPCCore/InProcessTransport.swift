import SoukProtobuf

/// A client transport that serves calls with a router in the same process.
///
/// Requests and responses still go through the binary encoding, so that what a
/// test sees is what a remote caller would see; there is no socket.
public struct InProcessTransport: ClientTransport {
    public let router: RPCRouter

    public init(router: RPCRouter) {
        self.router = router
    }

    public init(services: [any RPCService]) {
        self.router = RPCRouter(services: services)
    }

    public func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ request: Request, method descriptor: MethodDescriptor, options: CallOptions, responseType: Response.Type
    ) async throws -> Response {
        let requestBytes: [UInt8]
        do {
            requestBytes = try request.serializedBytes()
        } catch let error as ProtoBinaryError {
            throw RPCError(.invalidArgument, "the request could not be encoded: \(error.message)")
        }
        let method = try router.method(named: descriptor.fullName)
        let metadata = try options.checkedOutgoingMetadata(for: descriptor)
        let decoded = try requestBytes.withUnsafeBytes { bytes throws(RPCError) in try method.decodeRequest(bytes) }
        let context = ServerContext(method: method.descriptor, deadline: options.deadline(),
                                    metadata: metadata, peer: "in-process")
        let response = try await Deadline.run(until: context.deadline, method: descriptor) {
            try await method.serve(decoded, context: context)
        }
        do {
            return try Response(serializedBytes: try response.serializedBytes())
        } catch let error as ProtoBinaryError {
            throw RPCError(.internal, "the response of \(descriptor.fullName) could not be encoded: \(error.message)")
        }
    }
}

extension CallOptions {
    /// ``outgoingMetadata()``, refused with INVALID_ARGUMENT when an entry breaks the
    /// protocol's rules (see ``Metadata/violation``), before anything is sent.
    public func checkedOutgoingMetadata(for method: MethodDescriptor) throws(RPCError) -> Metadata {
        let metadata = outgoingMetadata()
        if let problem = metadata.violation {
            throw RPCError(.invalidArgument, "the metadata of this call to \(method.fullName) is invalid: \(problem)")
        }
        return metadata
    }

    /// The metadata a call sends: its own, plus the trace and request ids of the handler making it.
    public func outgoingMetadata() -> Metadata {
        var result = metadata
        if let inherited = ServerContext.current?.metadata {
            for key in ServerContext.propagatedMetadataKeys where result[key] == nil {
                if let value = inherited[key] { result.append(key, value) }
            }
        }
        return result
    }
}

/// Runs work until a deadline.
public enum Deadline {
    /// Runs `body`; at `deadline` the body's task is cancelled and the call ends with DEADLINE_EXCEEDED.
    public static func run<T: Sendable>(
        until deadline: ContinuousClock.Instant?, method: MethodDescriptor,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard let deadline else { return try await body() }
        if deadline <= .now {
            throw RPCError(.deadlineExceeded, "the deadline of \(method.fullName) expired before it started")
        }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                } catch {
                    // Woken before the deadline: the caller cancelled the call (or the body
                    // already answered, and this error is discarded). Not a timeout.
                    throw RPCError(.cancelled, "the call to \(method.fullName) was cancelled")
                }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw RPCError(.deadlineExceeded, "\(method.fullName) did not answer before its deadline")
            }
            return value
        }
    }
}
