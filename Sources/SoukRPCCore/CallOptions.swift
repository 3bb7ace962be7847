/// Per-call settings a client passes to a generated stub.
public struct CallOptions: Sendable {
    /// How long the caller waits before the call ends with DEADLINE_EXCEEDED; nil inherits the
    /// remaining deadline of the handler making the call, if any.
    public var timeout: Duration?
    /// Metadata sent with the request.
    public var metadata: Metadata

    public init(timeout: Duration? = nil, metadata: Metadata = Metadata()) {
        self.timeout = timeout
        self.metadata = metadata
    }

    public static var defaults: CallOptions { CallOptions() }

    /// Options with only a timeout.
    public static func timeout(_ timeout: Duration) -> CallOptions { CallOptions(timeout: timeout) }

    /// The deadline of this call: the earlier of its own timeout and the deadline of the calling handler.
    public func deadline(now: ContinuousClock.Instant = .now) -> ContinuousClock.Instant? {
        let own = timeout.map { now + $0 }
        switch (own, ServerContext.current?.deadline) {
        case let (own?, inherited?): return min(own, inherited)
        case let (own?, nil): return own
        case let (nil, inherited?): return inherited
        case (nil, nil): return nil
        }
    }
}
