/// A message could not be encoded to or decoded from the protobuf binary form.
public struct ProtoBinaryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A string field holds U+0000, which protobuf-c's NUL-terminated strings cannot carry.
        case stringContainsNUL
        /// A string field holds bytes that are not UTF-8.
        case invalidUTF8
        /// The bytes are not a valid encoding of the message (truncated, wrong wire type, bad length...).
        case malformed
        /// The input is larger than the limit the caller set.
        case tooLarge
    }

    public var kind: Kind
    /// A sentence a person can act on.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
