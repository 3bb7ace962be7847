import SoukProtobuf

/// Read-only navigation of parsed JSON for assertions.
extension JSONValue {
    var members: [(key: String, value: JSONValue)] {
        guard case .object(let object) = self else { return [] }
        return object.members
    }

    var keys: [String] { members.map(\.key) }

    var elements: [JSONValue] {
        guard case .array(let elements) = self else { return [] }
        return elements
    }

    var string: String? {
        guard case .string(let string) = self else { return nil }
        return string
    }

    var bool: Bool? {
        guard case .bool(let bool) = self else { return nil }
        return bool
    }

    /// Every value of a `$ref` member anywhere in the document.
    var refs: [String] {
        switch self {
        case .object(let object):
            object.members.flatMap { member -> [String] in
                if member.key == "$ref", let ref = member.value.string { return [ref] }
                return member.value.refs
            }
        case .array(let elements):
            elements.flatMap(\.refs)
        default:
            []
        }
    }
}
