/// A parsed JSON value. Numbers keep their literal text so 64-bit integers lose no precision.
public enum JSONValue: Sendable, Equatable {
  /// JSON `null`.
  case null
  /// JSON `true` or `false`.
  case bool(Bool)
  /// The literal as written, already validated against the JSON number grammar.
  case number(String)
  /// A string with escapes already resolved.
  case string(String)
  /// Elements in document order.
  case array([JSONValue])
  /// Members in document order.
  case object(JSONObject)
}

extension JSONValue {
  /// The value of member `key` when this is an object that has it; nil otherwise.
  public subscript(key: String) -> JSONValue? {
    guard case .object(let object) = self else { return nil }
    return object[key]
  }
}

/// A JSON object's members in document order; a repeated key is a syntax error at parse time.
public struct JSONObject: Sendable, Equatable {
  /// Key/value pairs in the order the document lists them.
  public var members: [(key: String, value: JSONValue)]

  /// Keeps the order given; callers building objects by hand are trusted not to repeat keys.
  public init(members: [(key: String, value: JSONValue)]) {
    self.members = members
  }

  /// Order-sensitive, like the document: `{"a":1,"b":2}` and `{"b":2,"a":1}` differ.
  public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
    guard lhs.members.count == rhs.members.count else { return false }
    for (left, right) in zip(lhs.members, rhs.members) where left.key != right.key || left.value != right.value {
      return false
    }
    return true
  }

  /// The value of member `key`, if the object has it. Linear on purpose: messages have few fields.
  public subscript(key: String) -> JSONValue? {
    for member in members where member.key == key { return member.value }
    return nil
  }
}
