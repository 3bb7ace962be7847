import Synchronization

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
    /// Metadata the handler sends back with its answer, success or failure (before
    /// the metadata of a thrown ``RPCError``). Souk has no initial metadata: every
    /// response metadata entry is trailing.
    public let trailingMetadata: TrailingMetadata

    public init(method: MethodDescriptor, deadline: ContinuousClock.Instant? = nil, metadata: Metadata = Metadata(),
                peer: String = "in-process") {
        self.method = method
        self.deadline = deadline
        self.metadata = metadata
        self.peer = peer
        self.trailingMetadata = TrailingMetadata()
    }

    /// The context of the call the current task serves, so that calls a handler
    /// makes through generated stubs inherit its deadline and trace metadata.
    @TaskLocal public static var current: ServerContext?

    /// Metadata keys a call made inside a handler carries on from the call it serves.
    public static let propagatedMetadataKeys = ["traceparent", "tracestate", "x-request-id"]

    /// The trace id of the W3C `traceparent` the caller sent (`00-<trace id>-<parent id>-<flags>`),
    /// for logs; nil when there is none or it is not of that form.
    public var traceID: Substring? {
        guard let traceparent = metadata["traceparent"] else { return nil }
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[1].utf8.count == 32 else { return nil }
        return parts[1]
    }
}

/// The trailing metadata a handler adds while it serves a call (``ServerContext/trailingMetadata``).
public final class TrailingMetadata: Sendable {
    private let state = Mutex(Metadata())

    public init() {}

    public func append(_ key: String, _ value: String) { state.withLock { $0.append(key, value) } }
    public func append(_ key: String, _ value: Metadata.Value) { state.withLock { $0.append(key, value) } }

    /// What was added so far.
    public var entries: Metadata { state.withLock { $0 } }
}
