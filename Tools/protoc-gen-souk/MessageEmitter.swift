/// Writes the Swift value type, binary bridge and JSON mapping of one message.
struct MessageEmitter {
    let registry: TypeRegistry

    struct PluginError: Error, CustomStringConvertible {
        var description: String
    }

    /// The wrapper types of `google/protobuf/wrappers.proto`, by full name, with the scalar each wraps.
    /// A singular field of one of them is a Swift optional of that scalar: nil when absent, `null` in JSON.
    static let wrappers: [String: FieldType] = [
        ".google.protobuf.DoubleValue": .double, ".google.protobuf.FloatValue": .float,
        ".google.protobuf.Int64Value": .int64, ".google.protobuf.UInt64Value": .uint64,
        ".google.protobuf.Int32Value": .int32, ".google.protobuf.UInt32Value": .uint32,
        ".google.protobuf.BoolValue": .bool, ".google.protobuf.StringValue": .string,
        ".google.protobuf.BytesValue": .bytes,
    ]

    /// Well-known types whose JSON form is a string with a grammar of its own: SoukProtobuf writes
    /// their `encodeJSON` and `init(json:at:)` by hand, so the generated struct leaves them out.
    /// (A wrapper's JSON is its bare value, generated like any scalar's: see `emitWrapperJSON`.)
    static let handWrittenJSON: Set<String> = [
        ".google.protobuf.Timestamp", ".google.protobuf.Duration", ".google.protobuf.FieldMask",
    ]

    /// The well-known types whose JSON is not an object.
    static let specialJSON: Set<String> = handWrittenJSON.union(wrappers.keys)

    /// The scalar a singular wrapper field holds, as a field of that scalar type, or nil for any other field.
    func wrapped(_ field: FieldModel) -> FieldModel? {
        guard !field.isRepeated, field.oneofIndex == nil, field.type == .message,
              let scalar = Self.wrappers[field.typeName] else { return nil }
        var model = field
        model.type = scalar
        model.typeName = ""
        return model
    }

    // MARK: Types

    func valueType(_ field: FieldModel) -> String {
        switch field.type {
        case .double: "Double"
        case .float: "Float"
        case .int64, .sint64, .sfixed64: "Int64"
        case .uint64, .fixed64: "UInt64"
        case .int32, .sint32, .sfixed32: "Int32"
        case .uint32, .fixed32: "UInt32"
        case .bool: "Bool"
        case .string: "String"
        case .bytes: "[UInt8]"
        case .enumeration, .message, .group: registry[field.typeName].swiftName
        }
    }

    func mapEntry(_ field: FieldModel) -> MessageModel? {
        guard field.isRepeated, field.type == .message, let entry = registry[field.typeName].message,
              entry.isMapEntry else { return nil }
        return entry
    }

    func propertyType(_ field: FieldModel) -> String {
        if let entry = mapEntry(field) {
            return "[\(valueType(entry.fields[0])): \(valueType(entry.fields[1]))]"
        }
        if field.isRepeated { return "[\(valueType(field))]" }
        if let scalar = wrapped(field) { return "\(valueType(scalar))?" }
        if field.type == .message { return "\(valueType(field))?" }
        return valueType(field)
    }

    func defaultValue(_ field: FieldModel) -> String {
        if mapEntry(field) != nil { return "[:]" }
        if field.isRepeated { return "[]" }
        switch field.type {
        case .bool: return "false"
        case .string: return "\"\""
        case .bytes: return "[]"
        case .enumeration: return ".init(rawValue: 0)"
        case .message, .group: return "nil"
        default: return "0"
        }
    }

    // MARK: Binary bridge expressions

    /// The C value for one Swift value.
    func cValue(_ field: FieldModel, _ swift: String, qualifiedName: String) -> String {
        switch field.type {
        case .bool: "\(swift) ? 1 : 0"
        case .string: "try arena.string(\(swift), field: \"\(qualifiedName)\")"
        case .bytes: "arena.bytes(\(swift))"
        case .enumeration: "cEnum(\(swift))"
        case .message, .group: "try arena.message(\(swift))"
        default: swift
        }
    }

    /// The Swift value for one C value.
    func swiftValue(_ field: FieldModel, _ c: String, qualifiedName: String) -> String {
        switch field.type {
        case .bool: "\(c) != 0"
        case .string: "try arena.string(\(c), field: \"\(qualifiedName)\")"
        case .bytes: "arena.bytes(\(c))"
        case .enumeration: "swiftEnum(\(c))"
        case .message, .group:
            "try arena.message(\(c), as: \(valueType(field)).self) ?? \(valueType(field))()"
        default: c
        }
    }

    // MARK: JSON expressions

    func jsonWrite(_ field: FieldModel, _ swift: String, writer: String) -> String {
        switch field.type {
        case .bytes: "\(writer).value(bytes: \(swift))"
        case .enumeration: "\(writer).enumValue(\(swift))"
        case .message, .group: "\(writer).message(\(swift))"
        default: "\(writer).value(\(swift))"
        }
    }

    func jsonRead(_ field: FieldModel, _ json: String, path: String) -> String {
        switch field.type {
        case .double: "try \(json).decodeDouble(at: \(path))"
        case .float: "try \(json).decodeFloat(at: \(path))"
        case .int64, .sint64, .sfixed64: "try \(json).decodeInt64(at: \(path))"
        case .uint64, .fixed64: "try \(json).decodeUInt64(at: \(path))"
        case .int32, .sint32, .sfixed32: "try \(json).decodeInt32(at: \(path))"
        case .uint32, .fixed32: "try \(json).decodeUInt32(at: \(path))"
        case .bool: "try \(json).decodeBool(at: \(path))"
        case .string: "try \(json).decodeString(at: \(path))"
        case .bytes: "try \(json).decodeBytes(at: \(path))"
        case .enumeration: "try JSONRead.enumValue(\(json), at: \(path), as: \(valueType(field)).self)"
        case .message, .group: "try \(valueType(field))(json: \(json), at: \(path))"
        }
    }

    func jsonMapKey(_ field: FieldModel, _ key: String, path: String) -> String {
        switch field.type {
        case .int64, .sint64, .sfixed64: "try JSONValue.decodeMapKeyInt64(\(key), at: \(path))"
        case .uint64, .fixed64: "try JSONValue.decodeMapKeyUInt64(\(key), at: \(path))"
        case .int32, .sint32, .sfixed32: "try JSONValue.decodeMapKeyInt32(\(key), at: \(path))"
        case .uint32, .fixed32: "try JSONValue.decodeMapKeyUInt32(\(key), at: \(path))"
        case .bool: "try JSONValue.decodeMapKeyBool(\(key), at: \(path))"
        default: "try JSONRead.stringKey(\(key), at: \(path))"
        }
    }

    func isDefaultCheck(_ field: FieldModel, _ swift: String) -> String {
        switch field.type {
        case .bool: swift
        case .string, .bytes: "!\(swift).isEmpty"
        case .enumeration: "\(swift).rawValue != 0"
        default: "\(swift) != 0"
        }
    }

    // MARK: Emission

    func validate(_ message: MessageModel, file: String) throws {
        var cMembers = Set<String>()
        for field in message.fields {
            if field.isProto3Optional {
                throw PluginError(description: "\(file): field \(message.fullName.dropFirst()).\(field.name) is proto3 `optional`, which Debian's protoc-c 1.4 cannot compile (\"--c_out hasn't been updated to support optional fields in proto3\"); use a wrapper such as google.protobuf.StringValue for presence")
            }
            if field.type == .message, field.typeName.hasPrefix(".google.protobuf."),
               registry[field.typeName].message.map({ Self.supportedWellKnown.contains($0.fullName) }) != true {
                throw PluginError(description: "\(file): field \(message.fullName.dropFirst()).\(field.name) uses \(field.typeName.dropFirst()); the well-known types Souk supports are Timestamp, Duration, FieldMask, Empty and the wrappers")
            }
            if field.type == .group {
                throw PluginError(description: "\(message.fullName).\(field.name): groups are not supported")
            }
            if field.name == "base" {
                throw PluginError(description: "\(message.fullName).base: protobuf-c reserves the member name `base`")
            }
            cMembers.insert(field.name.lowercased())
        }
        for field in message.fields where field.isRepeated && cMembers.contains("n_" + field.name.lowercased()) {
            throw PluginError(description: "\(message.fullName).n_\(field.name): clashes with protobuf-c's count member of the repeated field `\(field.name)`")
        }
        for oneof in message.oneofs where cMembers.contains(oneof.name.lowercased() + "_case") {
            throw PluginError(description: "\(message.fullName).\(oneof.name)_case: clashes with protobuf-c's case member of oneof `\(oneof.name)`")
        }
    }

    /// The well-known types SoukProtobuf carries (their C structs are in ProtobufWellKnownTypesC).
    static let supportedWellKnown: Set<String> = specialJSON.union([".google.protobuf.Empty"])

    func emit(_ message: MessageModel, file: String, into w: inout CodeWriter) throws {
        try validate(message, file: file)
        let entry = registry[message.fullName]
        let typeName = String(entry.swiftName.split(separator: ".").last!)
        let protoName = String(message.fullName.dropFirst())
        let oneofFields = Set(message.oneofs.flatMap(\.fieldIndexes))
        let plainFields = message.fields.enumerated().filter { !oneofFields.contains($0.offset) }.map(\.element)

        w.doc(message.comment)
        try w.block("public struct \(typeName): ProtoMessage {") { w in
            for field in plainFields {
                w.doc(field.comment)
                w.line("public var \(Naming.property(field.name)): \(propertyType(field)) = \(defaultValue(field))")
            }
            for oneof in message.oneofs {
                w.doc(oneof.comment)
                w.line("public var \(Naming.property(oneof.name)): \(Naming.upperCamel(oneof.name))? = nil")
            }
            for oneof in message.oneofs {
                w.line()
                w.doc(oneof.comment)
                w.block("public enum \(Naming.upperCamel(oneof.name)): Sendable, Equatable {") { w in
                    for index in oneof.fieldIndexes {
                        let field = message.fields[index]
                        w.doc(field.comment)
                        w.line("case \(Naming.property(field.name))(\(valueType(field)))")
                    }
                }
            }
            w.line("/// Fields this build does not know, kept from the binary form and written back with it.")
            w.line("public var unknownFields = ProtoUnknownFields()")
            for nested in message.nested where !nested.isMapEntry {
                w.line()
                try emit(nested, file: file, into: &w)
            }
            for e in message.enums {
                w.line()
                EnumEmitter().emit(e, swiftName: registry[e.fullName].swiftName, into: &w)
            }
            w.line()
            w.line("public init() {}")
            w.line()
            w.line("public static let protoMessageName = \"\(protoName)\"")
            w.line("nonisolated(unsafe) public static let cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> = {")
            w.line("    var c = \(entry.cType)()")
            w.line("    \(entry.cFunctionPrefix)__init(&c)")
            w.line("    return c.base.descriptor")
            w.line("}()")
            w.line()
            emitMakeC(message, entry: entry, plainFields: plainFields, into: &w)
            w.line()
            emitInitFromC(message, entry: entry, plainFields: plainFields, into: &w)
            if let scalar = Self.wrappers[message.fullName], let value = message.fields.first {
                w.line()
                emitWrapperJSON(value, scalar: scalar, into: &w)
            } else if !Self.handWrittenJSON.contains(message.fullName) {
                w.line()
                emitEncodeJSON(message, plainFields: plainFields, into: &w)
                w.line()
                emitInitFromJSON(message, plainFields: plainFields, into: &w)
            }
        }
    }

    /// A wrapper (`google.protobuf.Int64Value`, ...): built from its value, and in JSON the bare
    /// value, written and read as the wrapped scalar is (an int64 quoted, bytes in base64).
    private func emitWrapperJSON(_ value: FieldModel, scalar: FieldType, into w: inout CodeWriter) {
        var model = value
        model.type = scalar
        w.line("/// A wrapper holding `value`.")
        w.block("public init(value: \(valueType(model))) {") { w in
            w.line("self.init()")
            w.line("self.value = value")
        }
        w.line()
        w.block("public func encodeJSON(to writer: inout JSONWriter) {") { w in
            w.line(jsonWrite(model, "self.value", writer: "writer"))
        }
        w.line()
        w.block("public init(json: JSONValue, at path: JSONPath) throws {") { w in
            w.line("self.init(value: \(jsonRead(model, "json", path: "path")))")
        }
    }

    private func emitMakeC(_ message: MessageModel, entry: TypeRegistry.Entry, plainFields: [FieldModel],
                           into w: inout CodeWriter) {
        let protoName = String(message.fullName.dropFirst())
        w.block("public func makeCMessage(in arena: inout ProtoArena) throws -> \(entry.cType) {") { w in
            w.line("var c = \(entry.cType)()")
            w.line("\(entry.cFunctionPrefix)__init(&c)")
            for field in plainFields {
                let swift = "self.\(Naming.property(field.name))"
                let c = "c.\(Naming.cField(field.name))"
                let count = "c.n_\(field.name.lowercased())"
                let qualified = "\(protoName).\(field.name)"
                if let mapEntry = mapEntry(field) {
                    let entryC = registry[mapEntry.fullName]
                    let key = mapEntry.fields[0], value = mapEntry.fields[1]
                    w.line("\(count) = \(swift).count")
                    w.block("\(c) = try arena.mapEntries(\(swift)) { arena, key, value in") { w in
                        w.line("var entry = \(entryC.cType)()")
                        w.line("\(entryC.cFunctionPrefix)__init(&entry)")
                        w.line("entry.key = \(cValue(key, "key", qualifiedName: qualified + ".key"))")
                        w.line("entry.value = \(cValue(value, "value", qualifiedName: qualified + ".value"))")
                        w.line("return entry")
                    }
                } else if field.isRepeated {
                    w.line("\(count) = \(swift).count")
                    switch field.type {
                    case .bool: w.line("\(c) = arena.repeatedBools(\(swift))")
                    case .string: w.line("\(c) = try arena.repeatedStrings(\(swift), field: \"\(qualified)\")")
                    case .bytes: w.line("\(c) = arena.repeatedBytes(\(swift))")
                    case .enumeration: w.line("\(c) = arena.repeatedEnums(\(swift))")
                    case .message, .group: w.line("\(c) = try arena.repeatedMessages(\(swift))")
                    default: w.line("\(c) = arena.repeated(\(swift))")
                    }
                } else if wrapped(field) != nil {
                    w.line("\(c) = try arena.message(ifPresent: \(swift).map { \(valueType(field))(value: $0) })")
                } else if field.type == .message {
                    w.line("\(c) = try arena.message(ifPresent: \(swift))")
                } else {
                    w.line("\(c) = \(cValue(field, swift, qualifiedName: qualified))")
                }
            }
            for oneof in message.oneofs {
                w.block("switch self.\(Naming.property(oneof.name)) {") { w in
                    for index in oneof.fieldIndexes {
                        let field = message.fields[index]
                        w.line("case .\(Naming.property(field.name))(let value)?:")
                        w.line("    c.\(oneof.name.lowercased())_case = cOneofCase(\(field.number))")
                        w.line("    c.\(Naming.cField(field.name)) = \(cValue(field, "value", qualifiedName: "\(protoName).\(field.name)"))")
                    }
                    w.line("case nil:")
                    w.line("    break")
                }
            }
            w.line("arena.attach(self.unknownFields, to: &c.base)")
            w.line("return c")
        }
    }

    private func emitInitFromC(_ message: MessageModel, entry: TypeRegistry.Entry, plainFields: [FieldModel],
                               into w: inout CodeWriter) {
        let protoName = String(message.fullName.dropFirst())
        w.block("public init(cMessage: UnsafePointer<\(entry.cType)>, arena: borrowing ProtoArena) throws {") { w in
            if message.fields.isEmpty {
                w.line("self.init()")
                w.line("self.unknownFields = arena.unknownFields(cMessage.pointee.base)")
                return
            }
            w.line("let c = cMessage.pointee")
            w.line("self.unknownFields = arena.unknownFields(c.base)")
            for field in plainFields {
                let swift = "self.\(Naming.property(field.name))"
                let c = "c.\(Naming.cField(field.name))"
                let count = "c.n_\(field.name.lowercased())"
                let qualified = "\(protoName).\(field.name)"
                if let mapEntry = mapEntry(field) {
                    let key = mapEntry.fields[0], value = mapEntry.fields[1]
                    w.block("\(swift) = try arena.map(\(c), count: \(count)) { (arena: borrowing ProtoArena, entry) in") { w in
                        w.line("(\(swiftValue(key, "entry.pointee.key", qualifiedName: qualified + ".key")), \(swiftValue(value, "entry.pointee.value", qualifiedName: qualified + ".value")))")
                    }
                } else if field.isRepeated {
                    switch field.type {
                    case .bool: w.line("\(swift) = arena.repeatedBools(\(c), count: \(count))")
                    case .string: w.line("\(swift) = try arena.repeatedStrings(\(c), count: \(count), field: \"\(qualified)\")")
                    case .bytes: w.line("\(swift) = arena.repeatedBytes(\(c), count: \(count))")
                    case .enumeration: w.line("\(swift) = arena.repeatedEnums(\(c), count: \(count))")
                    case .message, .group: w.line("\(swift) = try arena.repeatedMessages(\(c), count: \(count))")
                    default: w.line("\(swift) = arena.repeated(\(c), count: \(count))")
                    }
                } else if wrapped(field) != nil {
                    w.line("\(swift) = try arena.message(\(c), as: \(valueType(field)).self)?.value")
                } else if field.type == .message {
                    w.line("\(swift) = try arena.message(\(c))")
                } else {
                    w.line("\(swift) = \(swiftValue(field, c, qualifiedName: qualified))")
                }
            }
            for oneof in message.oneofs {
                let property = "self.\(Naming.property(oneof.name))"
                w.block("switch oneofCase(c.\(oneof.name.lowercased())_case) {") { w in
                    for index in oneof.fieldIndexes {
                        let field = message.fields[index]
                        w.line("case \(field.number):")
                        w.line("    \(property) = .\(Naming.property(field.name))(\(swiftValue(field, "c.\(Naming.cField(field.name))", qualifiedName: "\(protoName).\(field.name)")))")
                    }
                    w.line("default:")
                    w.line("    \(property) = nil")
                }
            }
        }
    }

    /// The writer call for a field's key: its JSON name, or its proto name when the options ask for it.
    func jsonKey(_ field: FieldModel) -> String {
        field.jsonName == field.name
            ? "writer.fieldKey(\"\(field.name)\")"
            : "writer.fieldKey(\"\(field.jsonName)\", proto: \"\(field.name)\")"
    }

    private func emitEncodeJSON(_ message: MessageModel, plainFields: [FieldModel], into w: inout CodeWriter) {
        w.block("public func encodeJSON(to writer: inout JSONWriter) {") { w in
            w.line("writer.beginObject()")
            for field in plainFields {
                let swift = "self.\(Naming.property(field.name))"
                let key = jsonKey(field)
                if let mapEntry = mapEntry(field) {
                    w.line("if writer.emitUnpopulated || !\(swift).isEmpty {")
                    w.line("    \(key)")
                    w.line("    writer.map(\(swift)) { writer, value in \(jsonWrite(mapEntry.fields[1], "value", writer: "writer")) }")
                    w.line("}")
                } else if field.isRepeated {
                    w.line("if writer.emitUnpopulated || !\(swift).isEmpty {")
                    w.line("    \(key)")
                    w.line("    writer.array(\(swift)) { writer, value in \(jsonWrite(field, "value", writer: "writer")) }")
                    w.line("}")
                } else if field.type == .message {
                    w.line("if let value = \(swift) {")
                    w.line("    \(key)")
                    w.line("    \(jsonWrite(wrapped(field) ?? field, "value", writer: "writer"))")
                    w.line("} else if writer.emitUnpopulated {")
                    w.line("    \(key)")
                    w.line("    writer.valueNull()")
                    w.line("}")
                } else {
                    w.line("if writer.emitUnpopulated || \(isDefaultCheck(field, swift)) {")
                    w.line("    \(key)")
                    w.line("    \(jsonWrite(field, swift, writer: "writer"))")
                    w.line("}")
                }
            }
            for oneof in message.oneofs {
                w.block("switch self.\(Naming.property(oneof.name)) {") { w in
                    for index in oneof.fieldIndexes {
                        let field = message.fields[index]
                        w.line("case .\(Naming.property(field.name))(let value)?:")
                        w.line("    \(jsonKey(field))")
                        w.line("    \(jsonWrite(field, "value", writer: "writer"))")
                    }
                    w.line("case nil:")
                    w.line("    break")
                }
            }
            w.line("writer.endObject()")
        }
    }

    private func emitInitFromJSON(_ message: MessageModel, plainFields: [FieldModel], into w: inout CodeWriter) {
        let protoName = String(message.fullName.dropFirst())
        w.block("public init(json: JSONValue, at path: JSONPath) throws {") { w in
            w.line("self.init()")
            w.line("let object = try json.decodeObject(at: path)")
            if message.fields.isEmpty {
                w.block("if let member = object.members.first {") { w in
                    w.line("throw ProtoJSONError.unknownField(member.key, in: \"\(protoName)\", at: path)")
                }
                return
            }
            w.block("for (key, value) in object.members {") { w in
                w.block("switch key {") { w in
                    for (index, field) in message.fields.enumerated() {
                        let names = field.jsonName == field.name ? "\"\(field.name)\"" : "\"\(field.jsonName)\", \"\(field.name)\""
                        w.line("case \(names):")
                        w.indent()
                        w.line("if value.isNull { continue }")
                        w.line("let fieldPath = path.appending(field: \"\(field.jsonName)\")")
                        let swift = "self.\(Naming.property(field.name))"
                        if let mapEntry = mapEntry(field) {
                            let key = mapEntry.fields[0], value = mapEntry.fields[1]
                            w.line("\(swift) = try JSONRead.map(value, at: fieldPath,")
                            w.line("    key: { key, path in \(jsonMapKey(key, "key", path: "path")) },")
                            w.line("    value: { value, path in \(jsonRead(value, "value", path: "path")) })")
                        } else if let scalar = wrapped(field) {
                            w.line("\(swift) = \(jsonRead(scalar, "value", path: "fieldPath"))")
                        } else if field.isRepeated {
                            w.line("\(swift) = try JSONRead.array(value, at: fieldPath) { value, path in \(jsonRead(field, "value", path: "path")) }")
                        } else if let oneofIndex = message.oneofs.firstIndex(where: { $0.fieldIndexes.contains(index) }) {
                            let oneof = message.oneofs[oneofIndex]
                            let property = "self.\(Naming.property(oneof.name))"
                            w.line("if \(property) != nil { throw ProtoJSONError.duplicateOneof(\"\(oneof.name)\", at: fieldPath) }")
                            w.line("\(property) = .\(Naming.property(field.name))(\(jsonRead(field, "value", path: "fieldPath")))")
                        } else {
                            w.line("\(swift) = \(jsonRead(field, "value", path: "fieldPath"))")
                        }
                        w.outdent()
                    }
                    w.line("default:")
                    w.line("    throw ProtoJSONError.unknownField(key, in: \"\(protoName)\", at: path)")
                }
            }
        }
    }
}

/// Writes a Swift enum for a proto enum.
struct EnumEmitter {
    func emit(_ e: EnumModel, swiftName: String, into w: inout CodeWriter) {
        let typeName = String(swiftName.split(separator: ".").last!)
        var seen = Set<Int32>()
        let values = e.values.filter { seen.insert($0.number).inserted }
        let cases = values.map { (case: Naming.enumCase($0.name, enumName: e.name), $0.name, $0.number, $0.comment) }
        w.doc(e.comment)
        w.block("public enum \(typeName): ProtoEnum {") { w in
            for value in cases {
                w.doc(value.3)
                w.line("case \(value.case)")
            }
            w.line("/// A number this version of the contract does not know; kept so that it survives a round trip.")
            w.line("case unrecognized(Int32)")
            w.line()
            w.line("public static let protoEnumName = \"\(e.fullName.dropFirst())\"")
            w.line()
            w.block("public init(rawValue: Int32) {") { w in
                w.block("switch rawValue {", closing: "}") { w in
                    for value in cases { w.line("case \(value.2): self = .\(value.case)") }
                    w.line("default: self = .unrecognized(rawValue)")
                }
            }
            w.line()
            w.block("public var rawValue: Int32 {") { w in
                w.block("switch self {") { w in
                    for value in cases { w.line("case .\(value.case): \(value.2)") }
                    w.line("case .unrecognized(let number): number")
                }
            }
            w.line()
            w.block("public var protoName: String? {") { w in
                w.block("switch self {") { w in
                    for value in cases { w.line("case .\(value.case): \"\(value.1)\"") }
                    w.line("case .unrecognized: nil")
                }
            }
            w.line()
            w.block("public init?(protoName: String) {") { w in
                w.block("switch protoName {") { w in
                    for value in cases { w.line("case \"\(value.1)\": self = .\(value.case)") }
                    w.line("default: return nil")
                }
            }
        }
    }
}
