import SoukProtobuf

/// Proto3 JSON for messages known only by their descriptors, as the generated types read and
/// write it: JSON names out (or `.proto` names), either name in, int64 as strings, enums by name,
/// unknown members refused with their path.
extension DynamicCodec {
    // MARK: JSON in

    /// Reads `json` as a `typeName`; an error names the field path of what is wrong.
    public func decode(json: JSONValue, as typeName: String, at path: JSONPath = .root) throws -> DynamicMessage {
        if let wellKnown = Self.wellKnownType(typeName) {
            // Through the hand-written JSON forms of SoukProtobuf, then to bytes and back.
            let bytes = try wellKnown.init(json: json, at: path).serializedBytes()
            return try decode(bytes, as: typeName)
        }
        let type = try description(of: typeName)
        var message = DynamicMessage(typeName: typeName)
        let object = try json.decodeObject(at: path)
        for (key, value) in object.members {
            guard let field = type.field(named: key) else { throw ProtoJSONError.unknownField(key, in: typeName, at: path) }
            if value.isNull { continue }
            let fieldPath = path.appending(field: field.jsonName)
            if let entryType = mapEntryType(field) {
                let (keyField, valueField) = (entryType.fields[0], entryType.fields[1])
                // As JSONRead.map: an object; a null value is refused.
                var entries: [DynamicMessage.Entry] = []
                for member in try value.decodeObject(at: fieldPath).members {
                    let entryPath = fieldPath.appending(mapKey: member.key)
                    if member.value.isNull {
                        throw ProtoJSONError.wrongType(expected: "a map value", found: member.value, at: entryPath)
                    }
                    entries.append(DynamicMessage.Entry(key: try mapKey(member.key, field: keyField, at: entryPath),
                                                        value: try self.value(member.value, field: valueField, at: entryPath)))
                }
                message.maps[field.number] = []
                for entry in entries { message.setMapEntry(entry, field: field.number) }
            } else if field.isRepeated {
                message.repeated[field.number] = try JSONRead.array(value, at: fieldPath) { value, path in
                    try self.value(value, field: field, at: path)
                }
            } else if let oneof = field.oneofIndex {
                if type.fields.contains(where: { $0.oneofIndex == oneof && message.singular[$0.number] != nil }) {
                    throw ProtoJSONError.duplicateOneof(type.oneofs[oneof], at: fieldPath)
                }
                message.singular[field.number] = try self.value(value, field: field, at: fieldPath)
            } else {
                message.singular[field.number] = try self.value(value, field: field, at: fieldPath)
            }
        }
        return message
    }

    func value(_ json: JSONValue, field: FieldDescription, at path: JSONPath) throws -> DynamicValue {
        switch field.kind {
        case .int32, .sint32, .sfixed32: return .int32(try json.decodeInt32(at: path))
        case .int64, .sint64, .sfixed64: return .int64(try json.decodeInt64(at: path))
        case .uint32, .fixed32: return .uint32(try json.decodeUInt32(at: path))
        case .uint64, .fixed64: return .uint64(try json.decodeUInt64(at: path))
        case .bool: return .bool(try json.decodeBool(at: path))
        case .float: return .float(try json.decodeFloat(at: path))
        case .double: return .double(try json.decodeDouble(at: path))
        case .string: return .string(try json.decodeString(at: path))
        case .bytes: return .bytes(try json.decodeBytes(at: path))
        case .enumeration:
            let enumName = field.typeName ?? ""
            if case .string(let name) = json {
                guard let number = pool.enums[enumName]?.number(of: name) else {
                    throw ProtoJSONError.unknownEnumValue(name, enumName: enumName, at: path)
                }
                return .enumeration(number)
            }
            return .enumeration(try json.decodeInt32(at: path))
        case .message, .group:
            return .message(try decode(json: json, as: field.typeName ?? "", at: path))
        }
    }

    func mapKey(_ key: String, field: FieldDescription, at path: JSONPath) throws -> DynamicValue {
        switch field.kind {
        case .int32, .sint32, .sfixed32: return .int32(try JSONValue.decodeMapKeyInt32(key, at: path))
        case .int64, .sint64, .sfixed64: return .int64(try JSONValue.decodeMapKeyInt64(key, at: path))
        case .uint32, .fixed32: return .uint32(try JSONValue.decodeMapKeyUInt32(key, at: path))
        case .uint64, .fixed64: return .uint64(try JSONValue.decodeMapKeyUInt64(key, at: path))
        case .bool: return .bool(try JSONValue.decodeMapKeyBool(key, at: path))
        default: return .string(try JSONRead.stringKey(key, at: path))
        }
    }

    // MARK: JSON out

    /// The proto3 JSON of `message`, as the generated types write it.
    public func encodeJSON(_ message: DynamicMessage, options: JSONEncodingOptions = JSONEncodingOptions()) throws -> String {
        var writer = JSONWriter(options: options)
        try encodeJSON(message, to: &writer)
        if let error = writer.error { throw error }
        return writer.string
    }

    func encodeJSON(_ message: DynamicMessage, to writer: inout JSONWriter) throws {
        if let wellKnown = Self.wellKnownType(message.typeName) {
            try wellKnown.init(serializedBytes: try encode(message)).encodeJSON(to: &writer)
            return
        }
        let type = try description(of: message.typeName)
        writer.beginObject()
        // As the generated types: the plain fields in declaration order, then each oneof's member.
        for field in type.declaredFields where field.oneofIndex == nil {
            let key = writer.options.useProtoFieldNames ? field.name : field.jsonName
            if let entryType = mapEntryType(field) {
                let entries = message.maps[field.number] ?? []
                guard writer.emitUnpopulated || !entries.isEmpty else { continue }
                writer.key(key)
                let keyed = entries.map { (key: Self.mapKeyText($0.key), value: $0.value) }.sorted { $0.key < $1.key }
                writer.beginObject()
                for entry in keyed {
                    writer.key(entry.key)
                    try writeJSON(entry.value, field: entryType.fields[1], to: &writer)
                }
                writer.endObject()
            } else if field.isRepeated {
                let values = message.repeated[field.number] ?? []
                guard writer.emitUnpopulated || !values.isEmpty else { continue }
                writer.key(key)
                writer.beginArray()
                for value in values { try writeJSON(value, field: field, to: &writer) }
                writer.endArray()
            } else if field.kind == .message {
                if let value = message.singular[field.number] {
                    writer.key(key)
                    try writeJSON(value, field: field, to: &writer)
                } else if writer.emitUnpopulated {
                    writer.key(key)
                    writer.valueNull()
                }
            } else {
                let value = message.singular[field.number] ?? defaultValue(field)
                guard writer.emitUnpopulated || !Self.isDefault(value) else { continue }
                writer.key(key)
                try writeJSON(value, field: field, to: &writer)
            }
        }
        for index in type.oneofs.indices {
            for field in type.declaredFields where field.oneofIndex == index {
                guard let value = message.singular[field.number] else { continue }
                writer.key(writer.options.useProtoFieldNames ? field.name : field.jsonName)
                try writeJSON(value, field: field, to: &writer)
            }
        }
        writer.endObject()
    }

    func writeJSON(_ value: DynamicValue, field: FieldDescription, to writer: inout JSONWriter) throws {
        switch value {
        case .int32(let v): writer.value(v)
        case .int64(let v): writer.value(v)
        case .uint32(let v): writer.value(v)
        case .uint64(let v): writer.value(v)
        case .bool(let v): writer.value(v)
        case .float(let v): writer.value(v)
        case .double(let v): writer.value(v)
        case .string(let v): writer.value(v)
        case .bytes(let v): writer.value(bytes: v)
        case .enumeration(let number):
            if let name = pool.enums[field.typeName ?? ""]?.name(of: number) { writer.value(name) } else { writer.value(number) }
        case .message(let nested): try encodeJSON(nested, to: &writer)
        }
    }

    static func mapKeyText(_ key: DynamicValue) -> String {
        switch key {
        case .string(let v): v
        case .bool(let v): v ? "true" : "false"
        case .int32(let v): String(v)
        case .int64(let v): String(v)
        case .uint32(let v): String(v)
        case .uint64(let v): String(v)
        default: "\(key)"
        }
    }
}
