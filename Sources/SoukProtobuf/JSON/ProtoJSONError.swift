/// A JSON error names the offending path and says what was expected.
public struct ProtoJSONError: Error, Sendable, Equatable, CustomStringConvertible {
  /// What went wrong, for callers that map errors to status codes or retry policies.
  public enum Kind: Sendable, Equatable {
    case syntax, unknownField, wrongType, outOfRange, invalidValue, duplicateField, tooDeep, tooLarge
  }

  /// The category, stable for programmatic handling.
  public var kind: Kind
  /// The value the error is about; the root for syntax and size errors.
  public var path: JSONPath
  /// A sentence a person can act on; it already mentions the path.
  public var message: String
  /// For an unknown field: the member's name (``path`` is the object holding it).
  public var member: String? = nil

  /// Where the error is: the path, and for an unknown field the member itself.
  public var fieldPath: JSONPath { member.map { path.appending(field: $0) } ?? path }
  /// The message, so logging the error prints something readable.
  public var description: String { message }

  /// Builds an error whose message is used verbatim.
  public init(kind: Kind, path: JSONPath, message: String) {
    self.kind = kind
    self.path = path
    self.message = message
  }

  /// A member name the message does not declare; `path` is the object that holds it.
  public static func unknownField(_ name: String, in messageName: String, at path: JSONPath) -> ProtoJSONError {
    let location = path.isRoot ? "" : " at \(path)"
    var error = ProtoJSONError(
      kind: .unknownField, path: path,
      message: "unknown field \(JSONText.quoted(name)) in \(messageName)\(location)")
    error.member = name
    return error
  }

  /// An enum given by a name (or number) the enum does not declare.
  public static func unknownEnumValue(_ name: String, enumName: String, at path: JSONPath) -> ProtoJSONError {
    ProtoJSONError(
      kind: .invalidValue, path: path,
      message: "\(fieldPrefix(path))unknown value \(JSONText.quoted(name)) for enum \(enumName)")
  }

  /// `expected` is a noun phrase such as "an integer" or "an object".
  public static func wrongType(expected: String, found: JSONValue, at path: JSONPath) -> ProtoJSONError {
    ProtoJSONError(
      kind: .wrongType, path: path,
      message: "\(fieldPrefix(path))expected \(expected), found \(found.briefDescription)")
  }

  /// Two members of one oneof were set in the same object; `path` is that object.
  public static func duplicateOneof(_ oneofName: String, at path: JSONPath) -> ProtoJSONError {
    let location = path.isRoot ? "" : " at \(path)"
    return ProtoJSONError(
      kind: .duplicateField, path: path,
      message: "more than one member of oneof \(JSONText.quoted(oneofName)) is set\(location)")
  }

  // MARK: Internal factories

  /// "field a.b: " or, for the whole document, "top-level value: ".
  static func fieldPrefix(_ path: JSONPath) -> String {
    path.isRoot ? "top-level value: " : "field \(path): "
  }

  static func syntax(at offset: Int, _ detail: String) -> ProtoJSONError {
    ProtoJSONError(kind: .syntax, path: .root, message: "syntax error at byte \(offset): \(detail)")
  }

  static func invalidValue(expected: String, found: JSONValue, at path: JSONPath) -> ProtoJSONError {
    ProtoJSONError(
      kind: .invalidValue, path: path,
      message: "\(fieldPrefix(path))expected \(expected), found \(found.briefDescription)")
  }

  static func outOfRange(_ found: JSONValue, typeName: String, at path: JSONPath) -> ProtoJSONError {
    let shown: String
    switch found {
    case .number(let literal): shown = JSONText.truncated(literal)
    case .string(let text): shown = JSONText.quoted(JSONText.truncated(text))
    default: shown = found.briefDescription
    }
    return ProtoJSONError(
      kind: .outOfRange, path: path,
      message: "\(fieldPrefix(path))\(shown) is out of range for \(typeName)")
  }
}

extension JSONValue {
  /// How error messages show a value: `a string "abc"`, `a number 1.5`, `an object`, `null`, `true`.
  var briefDescription: String {
    switch self {
    case .null: return "null"
    case .bool(let value): return value ? "true" : "false"
    case .number(let literal): return "a number \(JSONText.truncated(literal))"
    case .string(let text): return "a string \(JSONText.quoted(JSONText.truncated(text)))"
    case .array: return "an array"
    case .object: return "an object"
    }
  }
}

/// Text helpers for messages.
enum JSONText {
  static let maxShownCharacters = 20

  /// Long values would drown the message; 20 characters are enough to recognise one.
  static func truncated(_ text: String) -> String {
    var end = text.startIndex
    var count = 0
    while end < text.endIndex {
      if count == maxShownCharacters { return String(text[..<end]) + "..." }
      text.formIndex(after: &end)
      count += 1
    }
    return text
  }

  /// The text as a JSON string literal, so control characters in input cannot garble a log line.
  static func quoted(_ text: String) -> String {
    var writer = JSONWriter(reservingCapacity: text.utf8.count + 2)
    writer.value(text)
    return writer.string
  }
}
