/// What a handler knows about the call it serves.
public struct ServerContext: Sendable {
    /// The rpc being served.
    public var method: MethodDescriptor
    /// When the caller stops waiting; the handler's task is cancelled then.
    public var deadline: ContinuousClock.Instant?
    /// Metadata the client sent.
    public var metadata: Metadata
    /// Who called, e.g. `127.0.0.1:53122` or `in-process`.
    public var peer: String

    public init(method: MethodDescriptor, deadline: ContinuousClock.Instant? = nil, metadata: Metadata = Metadata(),
                peer: String = "in-process") {
        self.method = method
        self.deadline = deadline
        self.metadata = metadata
        self.peer = peer
    }

    /// The context of the call the current task serves, so that calls a handler
    /// makes through generated stubs inherit its deadline and trace metadata.
    @TaskLocal public static var current: ServerContext?

    /// Metadata keys a call made inside a handler carries on from the call it serves.
    public static let propagatedMetadataKeys = ["traceparent", "tracestate", "x-request-id"]
}
