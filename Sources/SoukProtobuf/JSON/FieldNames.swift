/// How a `.proto` field name and its proto3 JSON name relate, for code that meets both: the
/// FieldMask JSON form, and requests assembled from HTTP paths, queries and bodies.
public enum FieldNames {
    /// `full_name` → `fullName`, as protoc makes a field's JSON name; a lowerCamelCase name is kept.
    public static func jsonName(_ protoName: some StringProtocol) -> String {
        var result = ""
        var upperNext = false
        for character in protoName {
            if character == "_" {
                upperNext = !result.isEmpty
            } else if upperNext {
                result += character.uppercased()
                upperNext = false
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// `fullName` → `full_name`: each ASCII upper-case letter becomes `_` and its lower case;
    /// a snake_case name is kept.
    public static func protoName(_ jsonName: some StringProtocol) -> String {
        var result = ""
        for character in jsonName {
            if character.isASCII, character.isUppercase {
                result.append("_")
                result.append(character.lowercased())
            } else {
                result.append(character)
            }
        }
        return result
    }
}
