import SoukProtobuf

/// One field of a message, as its descriptor says.
public struct FieldDescription: Sendable {
    /// The field's type (FieldDescriptorProto.Type).
    public enum Kind: Int, Sendable {
        case double = 1, float, int64, uint64, int32, fixed64, fixed32, bool, string, group, message, bytes, uint32,
             enumeration, sfixed32, sfixed64, sint32, sint64

        /// The name the `.proto` language gives it.
        public var protoName: String {
            switch self {
            case .double: "double"
            case .float: "float"
            case .int64: "int64"
            case .uint64: "uint64"
            case .int32: "int32"
            case .fixed64: "fixed64"
            case .fixed32: "fixed32"
            case .bool: "bool"
            case .string: "string"
            case .group: "group"
            case .message: "message"
            case .bytes: "bytes"
            case .uint32: "uint32"
            case .enumeration: "enum"
            case .sfixed32: "sfixed32"
            case .sfixed64: "sfixed64"
            case .sint32: "sint32"
            case .sint64: "sint64"
            }
        }

        /// Packable: a scalar whose repeated values may share one length-delimited record.
        var isPackable: Bool { ![.string, .bytes, .message, .group].contains(self) }
    }

    /// The `.proto` name, e.g. `unit_price`.
    public let name: String
    /// The JSON name, e.g. `unitPrice`.
    public let jsonName: String
    public let number: Int32
    public let kind: Kind
    public let isRepeated: Bool
    /// The full name of the message or enum type, for those kinds.
    public let typeName: String?
    /// The index of its oneof in the message's `oneofs`, for a member of one.
    public let oneofIndex: Int?
    /// Proto3 `optional`: explicit presence.
    public let isProto3Optional: Bool
    /// Repeated scalars are written packed (proto3's default).
    public let isPacked: Bool
    /// The comment above the field in its `.proto` file, if the descriptors carry it.
    public let comment: String?

    /// Whether the field tells "set to the default" from "not set": messages, oneof members, proto3 optional.
    public var hasPresence: Bool { !isRepeated && (kind == .message || kind == .group || oneofIndex != nil || isProto3Optional) }
}

/// A message type, as its descriptor says.
public struct MessageDescription: Sendable {
    /// The full name, e.g. `souk.orders.v1.Order.Item`.
    public let fullName: String
    /// The fields, by number.
    public let fields: [FieldDescription]
    /// The fields in the order the `.proto` file declares them.
    public let declaredFields: [FieldDescription]
    /// The oneofs' names, by index; synthetic ones (proto3 `optional`) included.
    public let oneofs: [String]
    /// A map's entry type (`key` = 1, `value` = 2).
    public let isMapEntry: Bool
    public let comment: String?
    /// The `.proto` file that defines it.
    public let file: String

    private let byNumber: [Int32: Int]
    private let byName: [String: Int]

    init(fullName: String, fields: [FieldDescription], oneofs: [String], isMapEntry: Bool, comment: String?, file: String) {
        self.fullName = fullName
        self.declaredFields = fields
        self.fields = fields.sorted { $0.number < $1.number }
        self.oneofs = oneofs
        self.isMapEntry = isMapEntry
        self.comment = comment
        self.file = file
        var byNumber: [Int32: Int] = [:], byName: [String: Int] = [:]
        for (index, field) in self.fields.enumerated() {
            byNumber[field.number] = index
            byName[field.jsonName] = index
            byName[field.name] = index
        }
        self.byNumber = byNumber
        self.byName = byName
    }

    public func field(number: Int32) -> FieldDescription? { byNumber[number].map { fields[$0] } }

    /// The field whose JSON name or `.proto` name is `name`.
    public func field(named name: String) -> FieldDescription? { byName[name].map { fields[$0] } }
}

/// An enum type, as its descriptor says.
public struct EnumDescription: Sendable {
    public let fullName: String
    /// Its values in declaration order: name, number and comment.
    public let values: [(name: String, number: Int32, comment: String?)]
    public let comment: String?
    public let file: String

    public func name(of number: Int32) -> String? { values.first { $0.number == number }?.name }
    public func number(of name: String) -> Int32? { values.first { $0.name == name }?.number }
}

/// An rpc, as its descriptor says.
public struct MethodDescription: Sendable {
    public let name: String
    public let inputType: String
    public let outputType: String
    /// `(souk.api.v1.internal)`.
    public let isInternal: Bool
    /// `(souk.api.v1.idempotent)`.
    public let isIdempotent: Bool
    public let comment: String?
}

/// A service, as its descriptor says.
public struct ServiceDescription: Sendable {
    public let fullName: String
    public let methods: [MethodDescription]
    public let comment: String?
    public let file: String
}

/// The contracts a set of `FileDescriptorSet`s describes, by full name: what reflection serves
/// and what `souk call` encodes and decodes with.
public final class DescriptorPool: Sendable {
    /// One `.proto` file: its name, what it imports, and its serialized `FileDescriptorProto`.
    struct File: Sendable {
        let name: String
        let dependencies: [String]
        let bytes: [UInt8]
    }

    private let files: [String: File]
    /// File names in the order they were given: dependencies first.
    private let fileOrder: [String]
    public let messages: [String: MessageDescription]
    public let enums: [String: EnumDescription]
    public let services: [String: ServiceDescription]
    /// Every symbol (package-qualified names of messages, enums, services, methods, fields,
    /// enum values) and the file that defines it.
    private let symbols: [String: String]

    /// Reads serialized `FileDescriptorSet`s; a file found in more than one is taken once.
    public init(fileDescriptorSets: [[UInt8]]) throws(WireFormatError) {
        var builder = PoolBuilder()
        for set in fileDescriptorSets {
            var reader = WireReader(set)
            while !reader.isAtEnd {
                let (number, type) = try reader.tag()
                guard number == 1, type == .lengthDelimited else {
                    _ = try reader.skip(type, number: number)
                    continue
                }
                let range = try reader.lengthDelimited()
                try builder.addFile(Array(set[range]))
            }
        }
        files = builder.files
        fileOrder = builder.fileOrder
        messages = builder.messages
        enums = builder.enums
        services = builder.services
        symbols = builder.symbols
    }

    /// The file that defines `symbol` (no leading dot), or nil.
    public func file(containing symbol: String) -> String? {
        let name = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
        return symbols[name]
    }

    /// A serialized `FileDescriptorSet` of `file` and everything it imports, transitively,
    /// each file after the files it imports.
    public func fileDescriptorSet(of file: String) -> [UInt8] {
        var ordered: [String] = []
        var seen: Set<String> = []
        func visit(_ name: String) {
            guard !seen.contains(name), let file = files[name] else { return }
            seen.insert(name)
            for dependency in file.dependencies { visit(dependency) }
            ordered.append(name)
        }
        visit(file)
        var writer = WireWriter()
        for name in ordered {
            writer.tag(1, .lengthDelimited)
            writer.lengthDelimited(files[name]!.bytes)
        }
        return writer.bytes
    }

    /// Every file's name, dependencies first.
    public var fileNames: [String] { fileOrder }

    /// Known names that look like `name`, closest first: for "did you mean".
    public func names(near name: String, among candidates: [String]? = nil, limit: Int = 3) -> [String] {
        let pool = candidates ?? Array(symbols.keys)
        let lowered = name.lowercased()
        let scored = pool.map { candidate -> (String, Int) in
            let other = candidate.lowercased()
            var distance = Self.editDistance(Array(lowered.utf8), Array(other.utf8))
            if other.hasSuffix(lowered) || other.contains(lowered) { distance = min(distance, 1) }
            return (candidate, distance)
        }
        let threshold = max(3, lowered.count / 3)
        return scored.filter { $0.1 <= threshold }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(limit).map(\.0)
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// Reads `FileDescriptorProto`s into the pool's tables.
private struct PoolBuilder {
    var files: [String: DescriptorPool.File] = [:]
    var fileOrder: [String] = []
    var messages: [String: MessageDescription] = [:]
    var enums: [String: EnumDescription] = [:]
    var services: [String: ServiceDescription] = [:]
    var symbols: [String: String] = [:]

    /// Comments by source path, for the file being read.
    var comments: [[Int32]: String] = [:]

    mutating func addFile(_ bytes: [UInt8]) throws(WireFormatError) {
        var name = "", package = "", dependencies: [String] = []
        var messageRanges: [Range<Int>] = [], enumRanges: [Range<Int>] = [], serviceRanges: [Range<Int>] = []
        var sourceInfo: Range<Int>?
        var reader = WireReader(bytes)
        while !reader.isAtEnd {
            let (number, type) = try reader.tag()
            guard type == .lengthDelimited else {
                _ = try reader.skip(type, number: number)
                continue
            }
            let range = try reader.lengthDelimited()
            switch number {
            case 1: name = reader.string(range)
            case 2: package = reader.string(range)
            case 3: dependencies.append(reader.string(range))
            case 4: messageRanges.append(range)
            case 5: enumRanges.append(range)
            case 6: serviceRanges.append(range)
            case 9: sourceInfo = range
            default: break
            }
        }
        guard files[name] == nil else { return }
        files[name] = DescriptorPool.File(name: name, dependencies: dependencies, bytes: bytes)
        fileOrder.append(name)
        comments = [:]
        if let sourceInfo { try readComments(bytes, sourceInfo) }
        let prefix = package.isEmpty ? "" : package + "."
        for (index, range) in messageRanges.enumerated() {
            try addMessage(bytes, range, prefix: prefix, path: [4, Int32(index)], file: name)
        }
        for (index, range) in enumRanges.enumerated() {
            try addEnum(bytes, range, prefix: prefix, path: [5, Int32(index)], file: name)
        }
        for (index, range) in serviceRanges.enumerated() {
            try addService(bytes, range, prefix: prefix, path: [6, Int32(index)], file: name)
        }
    }

    mutating func readComments(_ bytes: [UInt8], _ range: Range<Int>) throws(WireFormatError) {
        var reader = WireReader(bytes, from: range.lowerBound, to: range.upperBound)
        while !reader.isAtEnd {
            let (number, type) = try reader.tag()
            guard number == 1, type == .lengthDelimited else {
                _ = try reader.skip(type, number: number)
                continue
            }
            let location = try reader.lengthDelimited()
            var inner = WireReader(bytes, from: location.lowerBound, to: location.upperBound)
            var path: [Int32] = [], leading: String?, trailing: String?
            while !inner.isAtEnd {
                let (field, fieldType) = try inner.tag()
                switch (field, fieldType) {
                case (1, .lengthDelimited):
                    let packed = try inner.lengthDelimited()
                    var values = WireReader(bytes, from: packed.lowerBound, to: packed.upperBound)
                    while !values.isAtEnd { path.append(Int32(truncatingIfNeeded: try values.varint())) }
                case (1, .varint): path.append(Int32(truncatingIfNeeded: try inner.varint()))
                case (3, .lengthDelimited): leading = inner.string(try inner.lengthDelimited())
                case (4, .lengthDelimited): trailing = inner.string(try inner.lengthDelimited())
                default: _ = try inner.skip(fieldType, number: field)
                }
            }
            if let text = leading ?? trailing {
                let cleaned = text.split(separator: "\n", omittingEmptySubsequences: false)
                    .map { $0.hasPrefix(" ") ? $0.dropFirst() : $0 }
                    .joined(separator: "\n").trimmedOfWhitespace
                if !cleaned.isEmpty { comments[path] = cleaned }
            }
        }
    }

    mutating func addMessage(_ bytes: [UInt8], _ range: Range<Int>, prefix: String, path: [Int32],
                             file: String) throws(WireFormatError) {
        var name = "", fieldRanges: [Range<Int>] = [], nestedRanges: [Range<Int>] = [], enumRanges: [Range<Int>] = []
        var oneofs: [String] = [], isMapEntry = false
        try WireReader.forEachLengthDelimited(bytes, in: range) { number, part throws(WireFormatError) in
            switch number {
            case 1: name = String(decoding: bytes[part], as: UTF8.self)
            case 2: fieldRanges.append(part)
            case 3: nestedRanges.append(part)
            case 4: enumRanges.append(part)
            case 7: isMapEntry = try Self.boolOption(bytes, part, number: 7)
            case 8: oneofs.append(try Self.nameOf(bytes, part))
            default: break
            }
        }
        let fullName = prefix + name
        var fields: [FieldDescription] = []
        for (index, part) in fieldRanges.enumerated() {
            let field = try readField(bytes, part, comment: comments[path + [2, Int32(index)]])
            fields.append(field)
            symbols[fullName + "." + field.name] = file
        }
        messages[fullName] = MessageDescription(fullName: fullName, fields: fields, oneofs: oneofs, isMapEntry: isMapEntry,
                                                comment: comments[path], file: file)
        symbols[fullName] = file
        for (index, part) in nestedRanges.enumerated() {
            try addMessage(bytes, part, prefix: fullName + ".", path: path + [3, Int32(index)], file: file)
        }
        for (index, part) in enumRanges.enumerated() {
            try addEnum(bytes, part, prefix: fullName + ".", path: path + [4, Int32(index)], file: file)
        }
    }

    func readField(_ bytes: [UInt8], _ range: Range<Int>, comment: String?) throws(WireFormatError) -> FieldDescription {
        var name = "", jsonName: String?, number: Int32 = 0, label = 1, kind = FieldDescription.Kind.int32
        var typeName: String?, oneofIndex: Int?, proto3Optional = false, packedOption: Bool?
        var reader = WireReader(bytes, from: range.lowerBound, to: range.upperBound)
        while !reader.isAtEnd {
            let (field, type) = try reader.tag()
            switch (field, type) {
            case (1, .lengthDelimited): name = reader.string(try reader.lengthDelimited())
            case (3, .varint): number = Int32(truncatingIfNeeded: try reader.varint())
            case (4, .varint): label = Int(try reader.varint())
            case (5, .varint):
                let raw = Int(try reader.varint())
                guard let known = FieldDescription.Kind(rawValue: raw) else { throw WireFormatError("field \(name) has unknown type \(raw)") }
                kind = known
            case (6, .lengthDelimited):
                let text = reader.string(try reader.lengthDelimited())
                typeName = text.hasPrefix(".") ? String(text.dropFirst()) : text
            case (8, .lengthDelimited):
                let options = try reader.lengthDelimited()
                packedOption = try Self.optionalBool(bytes, options, number: 2)
            case (9, .varint): oneofIndex = Int(try reader.varint())
            case (10, .lengthDelimited): jsonName = reader.string(try reader.lengthDelimited())
            case (17, .varint): proto3Optional = try reader.varint() != 0
            default: _ = try reader.skip(type, number: field)
            }
        }
        let repeated = label == 3
        return FieldDescription(name: name, jsonName: jsonName ?? FieldNames.jsonName(name), number: number, kind: kind,
                                isRepeated: repeated, typeName: typeName, oneofIndex: oneofIndex, isProto3Optional: proto3Optional,
                                isPacked: repeated && kind.isPackable && (packedOption ?? true), comment: comment)
    }

    mutating func addEnum(_ bytes: [UInt8], _ range: Range<Int>, prefix: String, path: [Int32], file: String) throws(WireFormatError) {
        var name = "", values: [(name: String, number: Int32, comment: String?)] = []
        try WireReader.forEachLengthDelimited(bytes, in: range) { number, part throws(WireFormatError) in
            if number == 1 { name = String(decoding: bytes[part], as: UTF8.self) }
            if number == 2 {
                var valueName = "", valueNumber: Int32 = 0
                var inner = WireReader(bytes, from: part.lowerBound, to: part.upperBound)
                while !inner.isAtEnd {
                    let (field, fieldType) = try inner.tag()
                    switch (field, fieldType) {
                    case (1, .lengthDelimited): valueName = inner.string(try inner.lengthDelimited())
                    case (2, .varint): valueNumber = Int32(truncatingIfNeeded: try inner.varint())
                    default: _ = try inner.skip(fieldType, number: field)
                    }
                }
                values.append((valueName, valueNumber, comments[path + [2, Int32(values.count)]]))
            }
        }
        let fullName = prefix + name
        enums[fullName] = EnumDescription(fullName: fullName, values: values, comment: comments[path], file: file)
        symbols[fullName] = file
        // Enum values are scoped like C++ enumerators: beside the enum, in its parent's scope.
        for value in values { symbols[prefix + value.name] = file }
    }

    mutating func addService(_ bytes: [UInt8], _ range: Range<Int>, prefix: String, path: [Int32], file: String) throws(WireFormatError) {
        var name = "", methods: [MethodDescription] = []
        try WireReader.forEachLengthDelimited(bytes, in: range) { number, part throws(WireFormatError) in
            if number == 1 { name = String(decoding: bytes[part], as: UTF8.self) }
            if number == 2 { methods.append(try readMethod(bytes, part, comment: comments[path + [2, Int32(methods.count)]])) }
        }
        let fullName = prefix + name
        services[fullName] = ServiceDescription(fullName: fullName, methods: methods, comment: comments[path], file: file)
        symbols[fullName] = file
        for method in methods { symbols[fullName + "." + method.name] = file }
    }

    func readMethod(_ bytes: [UInt8], _ range: Range<Int>, comment: String?) throws(WireFormatError) -> MethodDescription {
        var name = "", input = "", output = "", isInternal = false, isIdempotent = false
        try WireReader.forEachLengthDelimited(bytes, in: range) { number, part throws(WireFormatError) in
            switch number {
            case 1: name = String(decoding: bytes[part], as: UTF8.self)
            case 2: input = String(String(decoding: bytes[part], as: UTF8.self).drop { $0 == "." })
            case 3: output = String(String(decoding: bytes[part], as: UTF8.self).drop { $0 == "." })
            case 4:
                // Souk's method options (souk/api/v1/annotations.proto), kept as extensions.
                isInternal = try Self.optionalBool(bytes, part, number: 51002) ?? false
                isIdempotent = try Self.optionalBool(bytes, part, number: 51003) ?? false
            default: break
            }
        }
        return MethodDescription(name: name, inputType: input, outputType: output, isInternal: isInternal,
                                 isIdempotent: isIdempotent, comment: comment)
    }

    static func nameOf(_ bytes: [UInt8], _ range: Range<Int>) throws(WireFormatError) -> String {
        var reader = WireReader(bytes, from: range.lowerBound, to: range.upperBound)
        while !reader.isAtEnd {
            let (number, type) = try reader.tag()
            if number == 1, type == .lengthDelimited { return reader.string(try reader.lengthDelimited()) }
            _ = try reader.skip(type, number: number)
        }
        return ""
    }

    static func boolOption(_ bytes: [UInt8], _ range: Range<Int>, number: Int32) throws(WireFormatError) -> Bool {
        try optionalBool(bytes, range, number: number) ?? false
    }

    /// A bool field of an options message, nil when absent.
    static func optionalBool(_ bytes: [UInt8], _ range: Range<Int>, number: Int32) throws(WireFormatError) -> Bool? {
        var reader = WireReader(bytes, from: range.lowerBound, to: range.upperBound)
        var found: Bool?
        while !reader.isAtEnd {
            let (field, type) = try reader.tag()
            if field == number, type == .varint {
                found = try reader.varint() != 0
            } else {
                _ = try reader.skip(type, number: field)
            }
        }
        return found
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and newlines (no Foundation here: souk-gateway links this).
    var trimmedOfWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(self.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
