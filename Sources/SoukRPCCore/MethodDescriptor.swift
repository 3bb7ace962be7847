/// One rpc of a contract, as generated from its `.proto` file.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service, e.g. `souk.orders.v1.OrdersService`.
    public let service: String
    /// The rpc's name, e.g. `CreateOrder`.
    public let method: String
    /// The request message's full name.
    public let inputType: String
    /// The response message's full name.
    public let outputType: String
    /// Only other services may call it, with a service credential; never exposed over REST.
    public let isInternal: Bool
    /// Calling it twice has the effect of calling it once, so a client may retry it.
    public let isIdempotent: Bool

    public init(service: String, method: String, inputType: String, outputType: String,
                isInternal: Bool = false, isIdempotent: Bool = false) {
        self.service = service
        self.method = method
        self.inputType = inputType
        self.outputType = outputType
        self.isInternal = isInternal
        self.isIdempotent = isIdempotent
        self.fullName = "/\(service)/\(method)"
    }

    /// The name on the wire: `/souk.orders.v1.OrdersService/CreateOrder`. Stored, not
    /// computed, because transports read it on every call.
    public let fullName: String

    public var description: String { fullName }
}
