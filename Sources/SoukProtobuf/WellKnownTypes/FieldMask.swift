// The JSON form of google.protobuf.FieldMask: one string, its paths in lowerCamelCase joined by commas.

extension Google_Protobuf_FieldMask {
    /// A mask of `paths` (proto field names, nested fields joined by `.`).
    public init(paths: [String]) {
        self.init()
        self.paths = paths
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        var camelPaths: [String] = []
        for path in paths {
            guard let camel = Self.lowerCamel(path) else {
                writer.fail(ProtoJSONError(kind: .invalidValue, path: .root, message:
                    "google.protobuf.FieldMask path \(JSONText.quoted(path)) has no JSON form: a path must be snake_case, each `_` followed by a lower-case letter"))
                return
            }
            camelPaths.append(camel)
        }
        writer.value(camelPaths.joined(separator: ","))
    }

    /// Reads `"fullName,address.postCode"` as the paths `full_name` and `address.post_code`.
    public init(json: JSONValue, at path: JSONPath) throws {
        guard case .string(let text) = json else {
            throw ProtoJSONError.wrongType(expected: "a field mask string such as \"fullName,email\"", found: json, at: path)
        }
        self.init()
        if text.isEmpty { return }
        for camel in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !camel.isEmpty, !camel.contains("_"), !camel.contains(where: { $0.isWhitespace }) else {
                throw ProtoJSONError(kind: .invalidValue, path: path, message:
                    "\(ProtoJSONError.fieldPrefix(path))\(JSONText.quoted(JSONText.truncated(text))) is not a field mask: expected lowerCamelCase paths joined by commas, such as \"fullName,address.postCode\", without `_`, spaces or empty paths")
            }
            paths.append(FieldNames.protoName(camel))
        }
    }

    /// `address.post_code` → `address.postCode`; nil when the path would not read back the same.
    static func lowerCamel(_ path: String) -> String? {
        var result = ""
        var afterUnderscore = false
        for character in path {
            if character.isASCII, character.isUppercase { return nil }
            if afterUnderscore {
                guard character.isASCII, character.isLowercase else { return nil }
                result.append(character.uppercased())
                afterUnderscore = false
            } else if character == "_" {
                afterUnderscore = true
            } else {
                result.append(character)
            }
        }
        return afterUnderscore ? nil : result
    }
}
