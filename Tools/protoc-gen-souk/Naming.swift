/// How names in `.proto` files become Swift and protobuf-c names.
enum Naming {
    static let swiftKeywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init", "inout",
        "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public", "rethrows",
        "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue", "default",
        "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "throw", "switch",
        "where", "while", "Any", "as", "await", "false", "is", "nil", "self", "Self", "super", "throws", "true",
        "try", "Type", "Protocol", "some", "any", "async", "consume", "borrowing", "consuming",
    ]

    /// C++ keywords protoc-c appends `_` to in field names.
    static let cKeywords: Set<String> = [
        "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char", "class",
        "compl", "const", "const_cast", "continue", "default", "delete", "do", "double", "dynamic_cast", "else",
        "enum", "explicit", "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long",
        "mutable", "namespace", "new", "not", "not_eq", "operator", "or", "or_eq", "private", "protected",
        "public", "register", "reinterpret_cast", "return", "short", "signed", "sizeof", "static", "static_cast",
        "struct", "switch", "template", "this", "throw", "true", "try", "typedef", "typeid", "typename", "union",
        "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
    ]

    /// Names a generated struct already uses for its own members.
    static let reservedMembers: Set<String> = [
        "protoMessageName", "cDescriptor", "makeCMessage", "encodeJSON", "CMessage", "jsonString", "jsonBytes",
        "serializedBytes", "withPacker", "unknownFields",
    ]

    /// A name usable as a Swift identifier in any position.
    static func escaped(_ name: String) -> String {
        swiftKeywords.contains(name) ? "`\(name)`" : name
    }

    /// `unit_price` → `unitPrice`, `ipv4_address` → `ipv4Address`.
    static func lowerCamel(_ snake: String) -> String {
        var result = ""
        var upperNext = false
        for character in snake {
            if character == "_" {
                upperNext = !result.isEmpty
            } else if upperNext {
                result += character.uppercased()
                upperNext = false
            } else {
                result.append(character)
            }
        }
        guard let first = result.first else { return "_" }
        return first.lowercased() + result.dropFirst()
    }

    /// `kind` → `Kind`, `payment_method` → `PaymentMethod`.
    static func upperCamel(_ snake: String) -> String {
        let lower = lowerCamel(snake)
        guard let first = lower.first else { return lower }
        return first.uppercased() + lower.dropFirst()
    }

    /// A Swift property name for a field or oneof.
    static func property(_ protoName: String) -> String {
        var name = lowerCamel(protoName)
        if reservedMembers.contains(name) { name += "_" }
        return escaped(name)
    }

    /// `NOT_SERVING` → `notServing`.
    static func enumCase(_ valueName: String, enumName: String) -> String {
        let prefix = cUpper(enumName) + "_"
        var name = valueName
        if name.hasPrefix(prefix), name.count > prefix.count,
           let first = name.dropFirst(prefix.count).first, !first.isNumber {
            name = String(name.dropFirst(prefix.count))
        }
        var result = lowerCamel(name.lowercased())
        if result == "unrecognized" { result += "_" }
        return escaped(result)
    }

    /// protoc-c's `CamelToUpper`: `OrderStatus` → `ORDER_STATUS`.
    static func cUpper(_ name: String) -> String {
        var result = ""
        var wasUpper = true
        for character in name {
            let isUpper = character.isUppercase
            if isUpper && !wasUpper { result += "_" }
            result += character.uppercased()
            wasUpper = isUpper
        }
        return result
    }

    /// protoc-c's `CamelToLower`: `HTTPThing_foo` → `httpthing_foo`.
    static func cLowerPiece(_ name: String) -> String {
        var result = ""
        var wasUpper = true
        for character in name {
            let isUpper = character.isUppercase
            if isUpper && !wasUpper { result += "_" }
            result += character.lowercased()
            wasUpper = isUpper
        }
        return result
    }

    /// protoc-c's `ToCamel`: `my_pkg` → `MyPkg`.
    static func cCamelPiece(_ name: String) -> String {
        var result = ""
        var upperNext = true
        for character in name {
            if character == "_" {
                upperNext = true
            } else if upperNext {
                result += character.uppercased()
                upperNext = false
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// The C struct protoc-c generates for a message: `.souk.users.v1.User` → `Souk__Users__V1__User`.
    static func cType(_ fullName: String) -> String {
        fullName.split(separator: ".").map { cCamelPiece(String($0)) }.joined(separator: "__")
    }

    /// The C function prefix: `.souk.users.v1.User` → `souk__users__v1__user`.
    static func cFunctionPrefix(_ fullName: String) -> String {
        fullName.split(separator: ".").map { cLowerPiece(String($0)) }.joined(separator: "__")
    }

    /// protoc-c's field member name.
    static func cField(_ protoName: String) -> String {
        var name = protoName.lowercased()
        if cKeywords.contains(name) { name += "_" }
        return escaped(name)
    }

    /// The prefix of top-level Swift type names in a file: `swift_prefix` when set, else the package in `Souk_Users_V1_` form.
    static func typePrefix(for file: FileModel) -> String {
        if let prefix = file.swiftPrefix { return prefix }
        if file.package.isEmpty { return "" }
        return file.package.split(separator: ".").map { upperCamel(String($0)) }.joined(separator: "_") + "_"
    }

    /// A doc comment from a `.proto` comment.
    static func docComment(_ text: String, indent: String) -> [String] {
        guard !text.isEmpty else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.isEmpty ? "\(indent)///" : "\(indent)/// \(line)"
        }
    }
}
