import CProtobufC
import ProtobufDescriptorC

/// The plugin's own model of the `.proto` files protoc hands it, copied out of
/// protobuf-c's structs so the emitters work with plain Swift values.
struct FileModel {
    var name: String
    var package: String
    var swiftPrefix: String?
    var dependencies: [String]
    var messages: [MessageModel]
    var enums: [EnumModel]
    var services: [ServiceModel]
}

struct MessageModel {
    var name: String
    /// `.souk.users.v1.User`
    var fullName: String
    var comment: String
    var fields: [FieldModel]
    var oneofs: [OneofModel]
    var nested: [MessageModel]
    var enums: [EnumModel]
    var isMapEntry: Bool
}

struct OneofModel {
    var name: String
    var comment: String
    /// Indexes into the message's fields.
    var fieldIndexes: [Int]
}

enum FieldType: Int32 {
    case double = 1, float = 2, int64 = 3, uint64 = 4, int32 = 5, fixed64 = 6, fixed32 = 7, bool = 8
    case string = 9, group = 10, message = 11, bytes = 12, uint32 = 13, enumeration = 14
    case sfixed32 = 15, sfixed64 = 16, sint32 = 17, sint64 = 18
}

struct FieldModel {
    var name: String
    var jsonName: String
    var number: Int32
    var type: FieldType
    var isRepeated: Bool
    /// `.souk.users.v1.User` for message and enum fields.
    var typeName: String
    var oneofIndex: Int?
    var isProto3Optional: Bool
    var comment: String
}

struct EnumModel {
    var name: String
    var fullName: String
    var comment: String
    var values: [(name: String, number: Int32, comment: String)]
}

struct ServiceModel {
    var name: String
    var fullName: String
    var comment: String
    var methods: [MethodModel]
}

struct HTTPRuleModel {
    var verb: String
    var path: String
    var body: String
    /// A success answers 201 Created.
    var created = false
}

struct MethodModel {
    var name: String
    var inputType: String
    var outputType: String
    var comment: String
    var clientStreaming: Bool
    var serverStreaming: Bool
    var http: HTTPRuleModel?
    var isInternal: Bool
    var isIdempotent: Bool
}

/// The extension numbers of `souk.api.v1` method options (Protos/souk/api/v1/annotations.proto).
enum MethodOptionNumber {
    static let http: UInt32 = 51001
    static let `internal`: UInt32 = 51002
    static let idempotent: UInt32 = 51003
}

func cString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

func cArray<T>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int) -> [UnsafeMutablePointer<T>] {
    guard let pointer else { return [] }
    return (0..<count).compactMap { pointer[$0] }
}

/// Comments by source-code-info path, e.g. [4, 0, 2, 1] = message 0, field 1.
struct Comments {
    private var byPath: [[Int32]: String] = [:]

    init(_ info: UnsafeMutablePointer<Google__Protobuf__SourceCodeInfo>?) {
        guard let info else { return }
        for location in cArray(info.pointee.location, info.pointee.n_location) {
            let path = Array(UnsafeBufferPointer(start: location.pointee.path, count: location.pointee.n_path))
            var text = cString(location.pointee.leading_comments)
            let trailing = cString(location.pointee.trailing_comments)
            if text.isEmpty { text = trailing }
            if !text.isEmpty { byPath[path] = text }
        }
    }

    subscript(path: [Int32]) -> String {
        let raw = byPath[path] ?? ""
        // Each line of a `//` comment starts with a space; strip one, keep the rest of the layout.
        let lines = raw.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            line.hasPrefix(" ") ? line.dropFirst() : line
        }
        return lines.joined(separator: "\n").trimmingTrailingNewlines()
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var result = self
        while result.hasSuffix("\n") || result.hasSuffix(" ") { result.removeLast() }
        return result
    }
}

func readFile(_ file: UnsafeMutablePointer<Google__Protobuf__FileDescriptorProto>) -> FileModel {
    let f = file.pointee
    let comments = Comments(f.source_code_info)
    let package = cString(f.package)
    let scope = package.isEmpty ? "" : "." + package
    var swiftPrefix: String? = nil
    if let options = f.options, let prefix = options.pointee.swift_prefix { swiftPrefix = String(cString: prefix) }
    let messages = cArray(f.message_type, f.n_message_type).enumerated().map { index, message in
        readMessage(message, scope: scope, path: [4, Int32(index)], comments: comments)
    }
    let enums = cArray(f.enum_type, f.n_enum_type).enumerated().map { index, e in
        readEnum(e, scope: scope, path: [5, Int32(index)], comments: comments)
    }
    let services = cArray(f.service, f.n_service).enumerated().map { index, service in
        readService(service, scope: scope, path: [6, Int32(index)], comments: comments)
    }
    let dependencies = (0..<f.n_dependency).map { cString(f.dependency[$0]) }
    return FileModel(name: cString(f.name), package: package, swiftPrefix: swiftPrefix, dependencies: dependencies,
                     messages: messages, enums: enums, services: services)
}

func readMessage(_ message: UnsafeMutablePointer<Google__Protobuf__DescriptorProto>, scope: String, path: [Int32],
                 comments: Comments) -> MessageModel {
    let m = message.pointee
    let name = cString(m.name)
    let fullName = scope + "." + name
    let fields = cArray(m.field, m.n_field).enumerated().map { index, field -> FieldModel in
        let f = field.pointee
        return FieldModel(
            name: cString(f.name), jsonName: cString(f.json_name), number: f.number,
            type: FieldType(rawValue: Int32(truncatingIfNeeded: f.type.rawValue)) ?? .group,
            isRepeated: f.label.rawValue == 3, typeName: cString(f.type_name),
            oneofIndex: f.has_oneof_index != 0 ? Int(f.oneof_index) : nil,
            isProto3Optional: f.has_proto3_optional != 0 && f.proto3_optional != 0,
            comment: comments[path + [2, Int32(index)]])
    }
    var oneofs = cArray(m.oneof_decl, m.n_oneof_decl).enumerated().map { index, oneof in
        OneofModel(name: cString(oneof.pointee.name), comment: comments[path + [8, Int32(index)]], fieldIndexes: [])
    }
    for (index, field) in fields.enumerated() {
        if let oneof = field.oneofIndex, !field.isProto3Optional { oneofs[oneof].fieldIndexes.append(index) }
    }
    let nested = cArray(m.nested_type, m.n_nested_type).enumerated().map { index, inner in
        readMessage(inner, scope: fullName, path: path + [3, Int32(index)], comments: comments)
    }
    let enums = cArray(m.enum_type, m.n_enum_type).enumerated().map { index, e in
        readEnum(e, scope: fullName, path: path + [4, Int32(index)], comments: comments)
    }
    let isMapEntry = m.options.map { $0.pointee.has_map_entry != 0 && $0.pointee.map_entry != 0 } ?? false
    return MessageModel(name: name, fullName: fullName, comment: comments[path], fields: fields,
                        oneofs: oneofs.filter { !$0.fieldIndexes.isEmpty }, nested: nested, enums: enums,
                        isMapEntry: isMapEntry)
}

func readEnum(_ e: UnsafeMutablePointer<Google__Protobuf__EnumDescriptorProto>, scope: String, path: [Int32],
              comments: Comments) -> EnumModel {
    let name = cString(e.pointee.name)
    let values = cArray(e.pointee.value, e.pointee.n_value).enumerated().map { index, value in
        (name: cString(value.pointee.name), number: value.pointee.number, comment: comments[path + [2, Int32(index)]])
    }
    return EnumModel(name: name, fullName: scope + "." + name, comment: comments[path], values: values)
}

func readService(_ service: UnsafeMutablePointer<Google__Protobuf__ServiceDescriptorProto>, scope: String,
                 path: [Int32], comments: Comments) -> ServiceModel {
    let name = cString(service.pointee.name)
    let methods = cArray(service.pointee.method, service.pointee.n_method).enumerated().map { index, method in
        let m = method.pointee
        var model = MethodModel(
            name: cString(m.name), inputType: cString(m.input_type), outputType: cString(m.output_type),
            comment: comments[path + [2, Int32(index)]],
            clientStreaming: m.has_client_streaming != 0 && m.client_streaming != 0,
            serverStreaming: m.has_server_streaming != 0 && m.server_streaming != 0,
            http: nil, isInternal: false, isIdempotent: false)
        if let options = m.options { readMethodOptions(options.pointee.base, into: &model) }
        return model
    }
    return ServiceModel(name: name, fullName: String(scope.dropFirst()) + "." + name, comment: comments[path],
                        methods: methods)
}

/// Custom options reach a plugin built on protobuf-c as unknown fields of
/// `MethodOptions`, tagged with the extension number.
func readMethodOptions(_ options: ProtobufCMessage, into method: inout MethodModel) {
    guard let unknown = options.unknown_fields else { return }
    for index in 0..<Int(options.n_unknown_fields) {
        let field = unknown[index]
        let bytes = Array(UnsafeBufferPointer(start: field.data, count: field.len))
        switch field.tag {
        case MethodOptionNumber.http:
            // protobuf-c keeps a length-delimited unknown field with its length prefix.
            let body = bytes.drop { $0 & 0x80 != 0 }.dropFirst()
            method.http = parseHTTPRule(Array(body))
        case MethodOptionNumber.internal:
            method.isInternal = bytes.contains { $0 != 0 }
        case MethodOptionNumber.idempotent:
            method.isIdempotent = bytes.contains { $0 != 0 }
        default:
            break
        }
    }
}

/// `HttpRule` holds string fields (1–5: the verbs, 6: body) and one bool (7: created), so a
/// few lines of wire parsing read it.
func parseHTTPRule(_ bytes: [UInt8]) -> HTTPRuleModel? {
    var rule = HTTPRuleModel(verb: "", path: "", body: "")
    var index = 0
    func varint() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            index += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }
    while index < bytes.count {
        guard let key = varint() else { return nil }
        if key & 7 == 0 {
            guard let value = varint() else { return nil }
            if key >> 3 == 7 { rule.created = value != 0 }
            continue
        }
        guard key & 7 == 2, let length = varint(), index + Int(length) <= bytes.count else {
            return nil
        }
        let value = String(decoding: bytes[index..<index + Int(length)], as: UTF8.self)
        index += Int(length)
        switch key >> 3 {
        case 1: (rule.verb, rule.path) = ("get", value)
        case 2: (rule.verb, rule.path) = ("post", value)
        case 3: (rule.verb, rule.path) = ("put", value)
        case 4: (rule.verb, rule.path) = ("patch", value)
        case 5: (rule.verb, rule.path) = ("delete", value)
        case 6: rule.body = value
        default: break
        }
    }
    return rule.verb.isEmpty ? nil : rule
}

