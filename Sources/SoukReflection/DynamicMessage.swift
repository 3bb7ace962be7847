import SoukProtobuf

/// One value of a field of a ``DynamicMessage``.
public indirect enum DynamicValue: Sendable, Equatable {
    case int32(Int32), int64(Int64), uint32(UInt32), uint64(UInt64), bool(Bool), float(Float), double(Double)
    case string(String), bytes([UInt8]), enumeration(Int32), message(DynamicMessage)
}

/// A message known only by its descriptor: what `souk call` sends and receives for a contract
/// it was not built with. Its binary form agrees byte for byte with the generated types' (fields
/// in number order, repeated scalars packed, map entries sorted by key, unknown fields last),
/// and its JSON form with their proto3 JSON.
public struct DynamicMessage: Sendable, Equatable {
    /// A map entry: its key and value.
    public struct Entry: Sendable, Equatable {
        public var key: DynamicValue
        public var value: DynamicValue
    }

    /// The message type's full name.
    public let typeName: String
    /// Singular fields that are set, by number.
    var singular: [Int32: DynamicValue] = [:]
    /// Repeated fields, by number.
    var repeated: [Int32: [DynamicValue]] = [:]
    /// Map fields, by number: entries with distinct keys.
    var maps: [Int32: [Entry]] = [:]
    /// Fields the descriptor does not know, as read (tags included).
    var unknownFields: [UInt8] = []

    public init(typeName: String) {
        self.typeName = typeName
    }

    /// The value of a singular field, if set.
    public subscript(number: Int32) -> DynamicValue? { singular[number] }
    /// The values of a repeated field.
    public func values(of number: Int32) -> [DynamicValue] { repeated[number] ?? [] }
    /// The entries of a map field.
    public func entries(of number: Int32) -> [Entry] { maps[number] ?? [] }

    mutating func setMapEntry(_ entry: Entry, field number: Int32) {
        var entries = maps[number] ?? []
        if let index = entries.firstIndex(where: { $0.key == entry.key }) {
            entries[index] = entry
        } else {
            entries.append(entry)
        }
        maps[number] = entries
    }
}

/// Turns messages known only by their descriptors into bytes and JSON and back.
public struct DynamicCodec: Sendable {
    public let pool: DescriptorPool

    public init(pool: DescriptorPool) {
        self.pool = pool
    }

    func description(of typeName: String) throws(WireFormatError) -> MessageDescription {
        guard let message = pool.messages[typeName] else {
            throw WireFormatError("the descriptors do not define the message \(typeName)")
        }
        return message
    }

    /// The well-known types whose JSON forms SoukProtobuf writes by hand (Timestamp, Duration,
    /// FieldMask, Empty, wrappers): their JSON goes through those types.
    static func wellKnownType(_ name: String) -> (any ProtoMessage.Type)? {
        name.hasPrefix("google.protobuf.") ? WellKnownMessages.byName[name] : nil
    }

    // MARK: Binary

    /// Decodes `bytes` as a `typeName`.
    public func decode(_ bytes: [UInt8], as typeName: String) throws(WireFormatError) -> DynamicMessage {
        var message = DynamicMessage(typeName: typeName)
        try merge(bytes, 0..<bytes.count, into: &message)
        return message
    }

    func merge(_ bytes: [UInt8], _ range: Range<Int>, into message: inout DynamicMessage) throws(WireFormatError) {
        let type = try description(of: message.typeName)
        var reader = WireReader(bytes, from: range.lowerBound, to: range.upperBound)
        while !reader.isAtEnd {
            let start = reader.position
            let (number, wireType) = try reader.tag()
            guard let field = type.field(number: number) else {
                _ = try reader.skip(wireType, number: number)
                message.unknownFields.append(contentsOf: bytes[start..<reader.position])
                continue
            }
            if let entryType = mapEntryType(field) {
                guard wireType == .lengthDelimited else { throw mismatch(field, in: type) }
                let entryRange = try reader.lengthDelimited()
                var entry = DynamicMessage(typeName: entryType.fullName)
                try merge(bytes, entryRange, into: &entry)
                let key = entry[1] ?? defaultValue(entryType.fields[0])
                let value = entry[2] ?? defaultValue(entryType.fields[1])
                message.setMapEntry(DynamicMessage.Entry(key: key, value: value), field: number)
            } else if field.isRepeated {
                if wireType == .lengthDelimited && field.kind.isPackable {
                    let packed = try reader.lengthDelimited()
                    var values = WireReader(bytes, from: packed.lowerBound, to: packed.upperBound)
                    var read: [DynamicValue] = []
                    while !values.isAtEnd { read.append(try readScalar(field, from: &values, wireType: scalarWireType(field.kind), in: type)) }
                    message.repeated[number, default: []].append(contentsOf: read)
                } else {
                    let value = try readValue(field, from: &reader, wireType: wireType, in: type, bytes: bytes)
                    message.repeated[number, default: []].append(value)
                }
            } else {
                if field.kind == .message, case .message(var existing)? = message.singular[number] {
                    // A message field seen twice is merged, as the protobuf encoding says.
                    guard wireType == .lengthDelimited else { throw mismatch(field, in: type) }
                    try merge(bytes, try reader.lengthDelimited(), into: &existing)
                    message.singular[number] = .message(existing)
                } else {
                    let value = try readValue(field, from: &reader, wireType: wireType, in: type, bytes: bytes)
                    if let oneof = field.oneofIndex { clearOneof(oneof, of: type, in: &message) }
                    message.singular[number] = value
                }
            }
        }
    }

    func mismatch(_ field: FieldDescription, in type: MessageDescription) -> WireFormatError {
        WireFormatError("field \(type.fullName).\(field.name) (\(field.number)) has the wrong wire type for a \(field.kind.protoName)")
    }

    func clearOneof(_ index: Int, of type: MessageDescription, in message: inout DynamicMessage) {
        for member in type.fields where member.oneofIndex == index { message.singular[member.number] = nil }
    }

    func mapEntryType(_ field: FieldDescription) -> MessageDescription? {
        guard field.isRepeated, field.kind == .message, let name = field.typeName, let entry = pool.messages[name], entry.isMapEntry,
              entry.fields.count == 2 else { return nil }
        return entry
    }

    func scalarWireType(_ kind: FieldDescription.Kind) -> WireType {
        switch kind {
        case .double, .fixed64, .sfixed64: .fixed64
        case .float, .fixed32, .sfixed32: .fixed32
        case .string, .bytes, .message: .lengthDelimited
        case .group: .startGroup
        default: .varint
        }
    }

    func readValue(_ field: FieldDescription, from reader: inout WireReader, wireType: WireType, in type: MessageDescription,
                   bytes: [UInt8]) throws(WireFormatError) -> DynamicValue {
        switch field.kind {
        case .message:
            guard wireType == .lengthDelimited, let name = field.typeName else { throw mismatch(field, in: type) }
            var nested = DynamicMessage(typeName: name)
            try merge(bytes, try reader.lengthDelimited(), into: &nested)
            return .message(nested)
        case .group:
            throw WireFormatError("field \(type.fullName).\(field.name) is a group, which proto3 does not have")
        default:
            return try readScalar(field, from: &reader, wireType: wireType, in: type)
        }
    }

    func readScalar(_ field: FieldDescription, from reader: inout WireReader, wireType: WireType,
                    in type: MessageDescription) throws(WireFormatError) -> DynamicValue {
        guard wireType == scalarWireType(field.kind) else { throw mismatch(field, in: type) }
        switch field.kind {
        case .int32: return .int32(Int32(truncatingIfNeeded: try reader.varint()))
        case .int64: return .int64(Int64(bitPattern: try reader.varint()))
        case .uint32: return .uint32(UInt32(truncatingIfNeeded: try reader.varint()))
        case .uint64: return .uint64(try reader.varint())
        case .sint32: return .int32(WireReader.unzigzag32(try reader.varint()))
        case .sint64: return .int64(WireReader.unzigzag64(try reader.varint()))
        case .bool: return .bool(try reader.varint() != 0)
        case .enumeration: return .enumeration(Int32(truncatingIfNeeded: try reader.varint()))
        case .fixed32: return .uint32(try reader.fixed32())
        case .sfixed32: return .int32(Int32(bitPattern: try reader.fixed32()))
        case .float: return .float(Float(bitPattern: try reader.fixed32()))
        case .fixed64: return .uint64(try reader.fixed64())
        case .sfixed64: return .int64(Int64(bitPattern: try reader.fixed64()))
        case .double: return .double(Double(bitPattern: try reader.fixed64()))
        case .string:
            let range = try reader.lengthDelimited()
            guard let text = String(validating: reader.bytes[range], as: UTF8.self) else {
                throw WireFormatError("field \(type.fullName).\(field.name) is not valid UTF-8")
            }
            // As the generated types: their strings are C strings.
            guard !text.utf8.contains(0) else { throw WireFormatError("field \(type.fullName).\(field.name) contains U+0000") }
            return .string(text)
        case .bytes: return .bytes(Array(reader.bytes[try reader.lengthDelimited()]))
        case .message, .group: throw mismatch(field, in: type)
        }
    }

    /// A field's default value: zero, false, empty; an empty message.
    func defaultValue(_ field: FieldDescription) -> DynamicValue {
        switch field.kind {
        case .int32, .sint32, .sfixed32: .int32(0)
        case .int64, .sint64, .sfixed64: .int64(0)
        case .uint32, .fixed32: .uint32(0)
        case .uint64, .fixed64: .uint64(0)
        case .bool: .bool(false)
        case .float: .float(0)
        case .double: .double(0)
        case .string: .string("")
        case .bytes: .bytes([])
        case .enumeration: .enumeration(0)
        case .message, .group: .message(DynamicMessage(typeName: field.typeName ?? ""))
        }
    }

    static func isDefault(_ value: DynamicValue) -> Bool {
        switch value {
        case .int32(let v): v == 0
        case .int64(let v): v == 0
        case .uint32(let v): v == 0
        case .uint64(let v): v == 0
        case .bool(let v): !v
        case .float(let v): v == 0
        case .double(let v): v == 0
        case .string(let v): v.isEmpty
        case .bytes(let v): v.isEmpty
        case .enumeration(let v): v == 0
        case .message: false
        }
    }

    /// The binary form of `message`.
    public func encode(_ message: DynamicMessage) throws(WireFormatError) -> [UInt8] {
        var writer = WireWriter()
        try encode(message, into: &writer)
        return writer.bytes
    }

    func encode(_ message: DynamicMessage, into writer: inout WireWriter) throws(WireFormatError) {
        let type = try description(of: message.typeName)
        for field in type.fields {
            if let entryType = mapEntryType(field) {
                let entries = (message.maps[field.number] ?? []).sorted { Self.keyOrder($0.key, $1.key) }
                for entry in entries {
                    var entryWriter = WireWriter()
                    if !Self.isDefault(entry.key) { try writeValue(entry.key, field: entryType.fields[0], into: &entryWriter) }
                    // A message value is written even when empty, as protobuf-c writes a set pointer.
                    if entryType.fields[1].kind == .message || !Self.isDefault(entry.value) {
                        try writeValue(entry.value, field: entryType.fields[1], into: &entryWriter)
                    }
                    writer.tag(field.number, .lengthDelimited)
                    writer.lengthDelimited(entryWriter.bytes)
                }
            } else if field.isRepeated {
                let values = message.repeated[field.number] ?? []
                guard !values.isEmpty else { continue }
                if field.isPacked {
                    var packed = WireWriter()
                    for value in values { try writePayload(value, field: field, into: &packed) }
                    writer.tag(field.number, .lengthDelimited)
                    writer.lengthDelimited(packed.bytes)
                } else {
                    for value in values { try writeValue(value, field: field, into: &writer) }
                }
            } else if let value = message.singular[field.number] {
                if field.hasPresence || !Self.isDefault(value) { try writeValue(value, field: field, into: &writer) }
            }
        }
        writer.bytes.append(contentsOf: message.unknownFields)
    }

    /// Map keys in the generated types' order: numbers by value, strings by their UTF-8, false before true.
    static func keyOrder(_ a: DynamicValue, _ b: DynamicValue) -> Bool {
        switch (a, b) {
        case (.int32(let x), .int32(let y)): x < y
        case (.int64(let x), .int64(let y)): x < y
        case (.uint32(let x), .uint32(let y)): x < y
        case (.uint64(let x), .uint64(let y)): x < y
        case (.bool(let x), .bool(let y)): !x && y
        case (.string(let x), .string(let y)): x < y
        default: false
        }
    }

    func writeValue(_ value: DynamicValue, field: FieldDescription, into writer: inout WireWriter) throws(WireFormatError) {
        writer.tag(field.number, scalarWireType(field.kind))
        try writePayload(value, field: field, into: &writer)
    }

    func writePayload(_ value: DynamicValue, field: FieldDescription, into writer: inout WireWriter) throws(WireFormatError) {
        switch (field.kind, value) {
        case (.int32, .int32(let v)), (.enumeration, .enumeration(let v)):
            writer.varint(UInt64(bitPattern: Int64(v)))
        case (.int64, .int64(let v)): writer.varint(UInt64(bitPattern: v))
        case (.uint32, .uint32(let v)): writer.varint(UInt64(v))
        case (.uint64, .uint64(let v)): writer.varint(v)
        case (.sint32, .int32(let v)): writer.varint(WireWriter.zigzag32(v))
        case (.sint64, .int64(let v)): writer.varint(WireWriter.zigzag64(v))
        case (.bool, .bool(let v)): writer.varint(v ? 1 : 0)
        case (.fixed32, .uint32(let v)): writer.fixed32(v)
        case (.sfixed32, .int32(let v)): writer.fixed32(UInt32(bitPattern: v))
        case (.float, .float(let v)): writer.fixed32(v.bitPattern)
        case (.fixed64, .uint64(let v)): writer.fixed64(v)
        case (.sfixed64, .int64(let v)): writer.fixed64(UInt64(bitPattern: v))
        case (.double, .double(let v)): writer.fixed64(v.bitPattern)
        case (.string, .string(let v)): writer.lengthDelimited(Array(v.utf8))
        case (.bytes, .bytes(let v)): writer.lengthDelimited(v)
        case (.message, .message(let nested)):
            var inner = WireWriter()
            try encode(nested, into: &inner)
            writer.lengthDelimited(inner.bytes)
        default:
            throw WireFormatError("field \(field.name) (a \(field.kind.protoName)) holds a value of another kind: \(value)")
        }
    }
}
