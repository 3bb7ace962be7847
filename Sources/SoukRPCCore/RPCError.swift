/// A call that did not succeed: a canonical code, a message for the caller,
/// optional details (a serialized message such as `ErrorDetails`) and trailing metadata.
///
/// Handlers throw it to answer with a status; anything else a handler throws
/// becomes INTERNAL with a generic message, its detail logged but never sent.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: RPCStatusCode
    public var message: String
    public var details: [UInt8]
    public var metadata: Metadata

    public init(_ code: RPCStatusCode, _ message: String, details: [UInt8] = [], metadata: Metadata = Metadata()) {
        self.code = code
        self.message = message
        self.details = details
        self.metadata = metadata
    }

    public var description: String { "\(code.name): \(message)" }
}
