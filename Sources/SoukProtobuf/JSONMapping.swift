/// The helpers generated `encodeJSON` methods call for lists, maps and enums.
extension JSONWriter {
    /// An enum by its `.proto` name; a number the schema does not know is written as that number.
    public mutating func enumValue<E: ProtoEnum>(_ value: E) {
        if let name = value.protoName { self.value(name) } else { self.value(value.rawValue) }
    }

    /// A nested message as a JSON object.
    public mutating func message<M: ProtoMessage>(_ value: M) {
        value.encodeJSON(to: &self)
    }

    /// A repeated field as a JSON array.
    public mutating func array<T>(_ values: [T], _ writeElement: (inout JSONWriter, T) -> Void) {
        beginArray()
        for element in values { writeElement(&self, element) }
        endArray()
    }

    /// A map field as a JSON object; keys are sorted so that the output is deterministic.
    public mutating func map<K: Hashable, V>(_ map: [K: V], _ writeValue: (inout JSONWriter, V) -> Void) {
        beginObject()
        let entries = map.map { (key: Self.mapKey($0.key), value: $0.value) }.sorted { $0.key < $1.key }
        for entry in entries {
            key(entry.key)
            writeValue(&self, entry.value)
        }
        endObject()
    }

    static func mapKey<K>(_ key: K) -> String {
        switch key {
        case let string as String: string
        case let bool as Bool: bool ? "true" : "false"
        default: "\(key)"
        }
    }
}

/// The helpers generated `init(json:at:)` initialisers call for lists, maps and enums.
public enum JSONRead {
    /// A repeated field: a JSON array whose elements are read by `readElement`; null elements are rejected.
    public static func array<T>(_ value: JSONValue, at path: JSONPath,
                                _ readElement: (JSONValue, JSONPath) throws -> T) throws -> [T] {
        let elements = try value.decodeArray(at: path)
        var result: [T] = []
        result.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let elementPath = path.appending(index: index)
            if element.isNull {
                throw ProtoJSONError.wrongType(expected: "a list element", found: element, at: elementPath)
            }
            result.append(try readElement(element, elementPath))
        }
        return result
    }

    /// A map field: a JSON object whose keys are read by `readKey` and values by `readValue`.
    public static func map<K: Hashable, V>(_ value: JSONValue, at path: JSONPath,
                                           key readKey: (String, JSONPath) throws -> K,
                                           value readValue: (JSONValue, JSONPath) throws -> V) throws -> [K: V] {
        let object = try value.decodeObject(at: path)
        var result: [K: V] = [:]
        result.reserveCapacity(object.members.count)
        for member in object.members {
            let entryPath = path.appending(mapKey: member.key)
            if member.value.isNull {
                throw ProtoJSONError.wrongType(expected: "a map value", found: member.value, at: entryPath)
            }
            result[try readKey(member.key, entryPath)] = try readValue(member.value, entryPath)
        }
        return result
    }

    /// An enum: its `.proto` name, or its number.
    public static func enumValue<E: ProtoEnum>(_ value: JSONValue, at path: JSONPath, as _: E.Type = E.self) throws -> E {
        if case .string(let name) = value {
            guard let known = E(protoName: name) else {
                throw ProtoJSONError.unknownEnumValue(name, enumName: E.protoEnumName, at: path)
            }
            return known
        }
        return E(rawValue: try value.decodeInt32(at: path))
    }

    /// A string map key, as written; U+0000 is refused as in every string field.
    public static func stringKey(_ key: String, at path: JSONPath) throws -> String {
        try JSONValue.rejectNUL(key, at: path)
        return key
    }
}
