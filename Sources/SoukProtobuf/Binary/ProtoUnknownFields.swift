import CProtobufC

/// The fields of a binary message that this build's contract does not declare, kept so that
/// re-encoding the message writes them back unchanged (as protobuf 3.5 and later do). A service
/// that relays a message from a newer peer therefore loses nothing. JSON drops them, as every
/// proto3 JSON encoder does.
public struct ProtoUnknownFields: Sendable, Hashable {
    /// One unknown field as it was on the wire.
    public struct Field: Sendable, Hashable {
        /// The field number.
        public var number: UInt32
        /// The wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
        public var wireType: UInt8
        /// The value's bytes after the key; for length-delimited fields, the length prefix included.
        public var value: [UInt8]

        public init(number: UInt32, wireType: UInt8, value: [UInt8]) {
            self.number = number
            self.wireType = wireType
            self.value = value
        }
    }

    /// The fields, in the order they were read.
    public var fields: [Field] = []

    public init() {}

    public init(fields: [Field]) {
        self.fields = fields
    }

    /// True when the message had no unknown fields.
    @inlinable
    public var isEmpty: Bool { fields.isEmpty }
}

extension ProtoArena {
    /// The unknown fields protobuf-c kept while unpacking `base`'s message.
    @inlinable
    public func unknownFields(_ base: ProtobufCMessage) -> ProtoUnknownFields {
        guard base.n_unknown_fields > 0, let unknown = base.unknown_fields else { return ProtoUnknownFields() }
        return ProtoUnknownFields(fields: UnsafeBufferPointer(start: unknown, count: Int(base.n_unknown_fields)).map { field in
            let value = field.len > 0 && field.data != nil
                ? Array(UnsafeBufferPointer(start: field.data, count: field.len)) : []
            return ProtoUnknownFields.Field(number: field.tag, wireType: UInt8(truncatingIfNeeded: field.wire_type.rawValue),
                                            value: value)
        })
    }

    /// Attaches `fields` to `base` so that protobuf-c packs them after the known fields.
    @inlinable
    public mutating func attach(_ fields: ProtoUnknownFields, to base: inout ProtobufCMessage) {
        guard !fields.isEmpty else { return }
        let count = fields.fields.count
        let array = allocate(byteCount: MemoryLayout<ProtobufCMessageUnknownField>.stride * count)
            .bindMemory(to: ProtobufCMessageUnknownField.self, capacity: count)
        for (index, field) in fields.fields.enumerated() {
            let data = allocate(byteCount: field.value.count)
            if !field.value.isEmpty {
                field.value.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            (array + index).initialize(to: ProtobufCMessageUnknownField(
                tag: field.number, wire_type: ProtobufCWireType(rawValue: numericCast(field.wireType)),
                len: field.value.count, data: data.assumingMemoryBound(to: UInt8.self)))
        }
        base.n_unknown_fields = numericCast(count)
        base.unknown_fields = array
    }
}
