/// Typed reads with proto3 JSON rules. Each throws ProtoJSONError(kind: .wrongType / .outOfRange / .invalidValue,
/// path: path) with a clear message naming the path.
extension JSONValue {
  /// A JSON string, as is.
  public func decodeString(at path: JSONPath) throws(ProtoJSONError) -> String {
    guard case .string(let text) = self else { throw .wrongType(expected: "a string", found: self, at: path) }
    try Self.rejectNUL(text, at: path)
    return text
  }

  /// protobuf-c strings end at the first NUL, so a string field holding U+0000 could not reach the
  /// binary form intact: it is invalid input here rather than a silent truncation later.
  static func rejectNUL(_ text: String, at path: JSONPath) throws(ProtoJSONError) {
    if text.utf8.contains(0) {
      throw ProtoJSONError(kind: .invalidValue, path: path,
                           message: "\(ProtoJSONError.fieldPrefix(path))contains the character U+0000, which Souk contracts cannot carry in a string")
    }
  }

  /// Only `true` or `false`; proto3 JSON does not accept strings for bool fields (map keys aside).
  public func decodeBool(at path: JSONPath) throws(ProtoJSONError) -> Bool {
    guard case .bool(let value) = self else { throw .wrongType(expected: "true or false", found: self, at: path) }
    return value
  }

  /// A number or numeric string with an integral value (`1.0`, `1e2` are fine, `1.5` is not), range checked.
  public func decodeInt32(at path: JSONPath) throws(ProtoJSONError) -> Int32 {
    let (negative, magnitude) = try integerParts(at: path, typeName: "int32")
    if negative {
      guard magnitude <= UInt64(Int32.max) + 1 else { throw .outOfRange(self, typeName: "int32", at: path) }
      return Int32(truncatingIfNeeded: 0 &- magnitude)
    }
    guard magnitude <= UInt64(Int32.max) else { throw .outOfRange(self, typeName: "int32", at: path) }
    return Int32(magnitude)
  }

  /// Like `decodeInt32`, for uint32; `-0` is zero, any other negative is out of range.
  public func decodeUInt32(at path: JSONPath) throws(ProtoJSONError) -> UInt32 {
    let (negative, magnitude) = try integerParts(at: path, typeName: "uint32")
    guard magnitude <= UInt64(UInt32.max), !negative || magnitude == 0 else {
      throw .outOfRange(self, typeName: "uint32", at: path)
    }
    return UInt32(magnitude)
  }

  /// A number or numeric string; exact over the whole int64 range because the literal text is parsed directly.
  public func decodeInt64(at path: JSONPath) throws(ProtoJSONError) -> Int64 {
    let (negative, magnitude) = try integerParts(at: path, typeName: "int64")
    if negative {
      guard magnitude <= UInt64(Int64.max) + 1 else { throw .outOfRange(self, typeName: "int64", at: path) }
      return Int64(truncatingIfNeeded: 0 &- magnitude)
    }
    guard magnitude <= UInt64(Int64.max) else { throw .outOfRange(self, typeName: "int64", at: path) }
    return Int64(magnitude)
  }

  /// A number or numeric string; exact over the whole uint64 range.
  public func decodeUInt64(at path: JSONPath) throws(ProtoJSONError) -> UInt64 {
    let (negative, magnitude) = try integerParts(at: path, typeName: "uint64")
    guard !negative || magnitude == 0 else { throw .outOfRange(self, typeName: "uint64", at: path) }
    return magnitude
  }

  /// A number, a numeric string, or one of "NaN", "Infinity", "-Infinity". Finite literals beyond Double's
  /// range are out of range rather than silently infinite.
  public func decodeDouble(at path: JSONPath) throws(ProtoJSONError) -> Double {
    switch try floatingLiteral(at: path) {
    case .special(let value):
      return value
    case .literal(let literal):
      guard let value = JSONNumber.double(fromLiteral: literal) else {
        throw .invalidValue(expected: "a number", found: self, at: path)
      }
      guard value.isFinite else { throw .outOfRange(self, typeName: "double", at: path) }
      return value
    }
  }

  /// Like `decodeDouble`, rounded to Float; finite values that round beyond Float's range are out of range.
  public func decodeFloat(at path: JSONPath) throws(ProtoJSONError) -> Float {
    switch try floatingLiteral(at: path) {
    case .special(let value):
      return Float(value)
    case .literal(let literal):
      guard let value = JSONNumber.float(fromLiteral: literal) else {
        throw .invalidValue(expected: "a number", found: self, at: path)
      }
      guard value.isFinite else { throw .outOfRange(self, typeName: "float", at: path) }
      return value
    }
  }

  /// A base64 string in the standard or URL-safe alphabet, padding optional.
  public func decodeBytes(at path: JSONPath) throws(ProtoJSONError) -> [UInt8] {
    guard case .string(let text) = self else {
      throw .wrongType(expected: "a base64 string", found: self, at: path)
    }
    guard let data = ProtoJSONBase64.decode(text) else {
      throw .invalidValue(expected: "a base64 string", found: self, at: path)
    }
    return data
  }

  /// The elements of an array. Null is not accepted: callers treat null as "field not set" before asking.
  public func decodeArray(at path: JSONPath) throws(ProtoJSONError) -> [JSONValue] {
    guard case .array(let elements) = self else { throw .wrongType(expected: "an array", found: self, at: path) }
    return elements
  }

  /// The members of an object. Null is not accepted, as with `decodeArray`.
  public func decodeObject(at path: JSONPath) throws(ProtoJSONError) -> JSONObject {
    guard case .object(let object) = self else { throw .wrongType(expected: "an object", found: self, at: path) }
    return object
  }

  /// True for JSON `null`, which proto3 JSON reads as "use the default".
  public var isNull: Bool {
    if case .null = self { return true }
    return false
  }

  // MARK: Map keys

  /// Map keys arrive as strings; these parse them as the key type (for map<int32, ...> etc.).
  public static func decodeMapKeyInt32(_ key: String, at path: JSONPath) throws(ProtoJSONError) -> Int32 {
    try JSONValue.string(key).decodeInt32(at: path)
  }

  /// Parses a map<int64, ...> key.
  public static func decodeMapKeyInt64(_ key: String, at path: JSONPath) throws(ProtoJSONError) -> Int64 {
    try JSONValue.string(key).decodeInt64(at: path)
  }

  /// Parses a map<uint32, ...> key.
  public static func decodeMapKeyUInt32(_ key: String, at path: JSONPath) throws(ProtoJSONError) -> UInt32 {
    try JSONValue.string(key).decodeUInt32(at: path)
  }

  /// Parses a map<uint64, ...> key.
  public static func decodeMapKeyUInt64(_ key: String, at path: JSONPath) throws(ProtoJSONError) -> UInt64 {
    try JSONValue.string(key).decodeUInt64(at: path)
  }

  /// Parses a map<bool, ...> key: exactly "true" or "false".
  public static func decodeMapKeyBool(_ key: String, at path: JSONPath) throws(ProtoJSONError) -> Bool {
    switch key {
    case "true": return true
    case "false": return false
    default: throw .invalidValue(expected: "\"true\" or \"false\" as a map key", found: .string(key), at: path)
    }
  }

  // MARK: Internals

  /// Sign and magnitude of an integral number or numeric string; `typeName` is for the overflow message.
  func integerParts(at path: JSONPath, typeName: String) throws(ProtoJSONError) -> (Bool, UInt64) {
    let result: JSONNumber.IntegerResult
    switch self {
    case .number(let literal):
      result = JSONNumber.integer(fromLiteral: literal)
    case .string(let text):
      guard JSONNumber.isValidLiteral(text) else {
        throw .invalidValue(expected: "an integer", found: self, at: path)
      }
      result = JSONNumber.integer(fromLiteral: text)
    default:
      throw .wrongType(expected: "an integer", found: self, at: path)
    }
    switch result {
    case .value(let negative, let magnitude): return (negative, magnitude)
    case .notInteger: throw .invalidValue(expected: "an integer", found: self, at: path)
    case .overflow: throw .outOfRange(self, typeName: typeName, at: path)
    }
  }

  enum FloatingLiteral {
    case special(Double)
    case literal(String)
  }

  func floatingLiteral(at path: JSONPath) throws(ProtoJSONError) -> FloatingLiteral {
    switch self {
    case .number(let literal):
      return .literal(literal)
    case .string(let text):
      switch text {
      case "NaN": return .special(.nan)
      case "Infinity": return .special(.infinity)
      case "-Infinity": return .special(-.infinity)
      default:
        guard JSONNumber.isValidLiteral(text) else {
          throw .invalidValue(expected: "a number", found: self, at: path)
        }
        return .literal(text)
      }
    default:
      throw .wrongType(expected: "a number", found: self, at: path)
    }
  }
}
