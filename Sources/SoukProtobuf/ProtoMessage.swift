import CProtobufC

/// A message type generated from a `.proto` file.
///
/// The binary form goes through protobuf-c: a value builds its C struct in a
/// ``ProtoArena`` and protobuf-c packs it; decoding lets protobuf-c unpack into
/// an arena and copies the fields out. The JSON form is the proto3 canonical
/// JSON mapping, which protobuf-c does not have.
public protocol ProtoMessage: Sendable, Equatable {
    /// The protobuf-c struct this type wraps.
    associatedtype CMessage

    /// The full protobuf name, e.g. `souk.users.v1.User`.
    static var protoMessageName: String { get }

    /// protobuf-c's descriptor of ``CMessage``.
    static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> { get }

    /// A message with every field at its default.
    init()

    /// Builds the C struct; every pointer in it points into `arena`.
    func makeCMessage(in arena: inout ProtoArena) throws -> CMessage

    /// Copies the fields out of a struct that protobuf-c unpacked into `arena`.
    init(cMessage: UnsafePointer<CMessage>, arena: borrowing ProtoArena) throws

    /// Writes the proto3 JSON form of the message.
    func encodeJSON(to writer: inout JSONWriter)

    /// Reads the proto3 JSON form of the message; `path` locates it in the document for errors.
    init(json: JSONValue, at path: JSONPath) throws
}

/// An enum type generated from a `.proto` file. Values the schema does not
/// know survive a round trip as `unrecognized`.
public protocol ProtoEnum: Sendable, Hashable {
    /// The full protobuf name, e.g. `souk.orders.v1.OrderStatus`.
    static var protoEnumName: String { get }
    init(rawValue: Int32)
    var rawValue: Int32 { get }
    /// The value's name in the `.proto` file, or nil for an unrecognized number.
    var protoName: String? { get }
    /// The value named `protoName` in the `.proto` file, if there is one.
    init?(protoName: String)
}
