/// Entry points for turning request bodies into `JSONValue` trees.
public enum JSONParser {
  /// Parses one JSON document (RFC 8259). Rejects trailing garbage, invalid UTF-8, lone surrogate escapes,
  /// control characters in strings, duplicate keys, nesting deeper than `maxDepth`, and documents over `maxBytes`
  /// (kind .tooLarge). Never crashes on any input.
  public static func parse(
    _ bytes: some Collection<UInt8>, maxDepth: Int = 64, maxBytes: Int = 4 << 20
  ) throws(ProtoJSONError) -> JSONValue {
    let count = bytes.count
    if count > maxBytes {
      throw ProtoJSONError(
        kind: .tooLarge, path: .root,
        message: "document is \(count) bytes, over the limit of \(maxBytes) bytes")
    }
    let contiguous = bytes.withContiguousStorageIfAvailable { buffer in
      Result { () throws(ProtoJSONError) -> JSONValue in try parse(buffer: buffer, maxDepth: maxDepth) }
    }
    if let contiguous { return try contiguous.get() }
    // Non-contiguous collections are copied once so the scanner can index raw memory.
    let copy = Array(bytes)
    return try copy.withUnsafeBufferPointer { buffer in
      Result { () throws(ProtoJSONError) -> JSONValue in try parse(buffer: buffer, maxDepth: maxDepth) }
    }.get()
  }

  /// Parses one JSON document given as text; same rules as the byte form.
  public static func parse(
    _ text: String, maxDepth: Int = 64, maxBytes: Int = 4 << 20
  ) throws(ProtoJSONError) -> JSONValue {
    try parse(text.utf8, maxDepth: maxDepth, maxBytes: maxBytes)
  }

  static func parse(buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int) throws(ProtoJSONError) -> JSONValue {
    var scanner = JSONScanner(buffer: buffer, maxDepth: maxDepth)
    scanner.skipWhitespace()
    let value = try scanner.parseValue(depth: 0)
    scanner.skipWhitespace()
    if scanner.index < buffer.count {
      throw .syntax(
        at: scanner.index, "unexpected \(scanner.describeByte(at: scanner.index)) after the end of the JSON value")
    }
    return value
  }
}

// ASCII bytes the scanner dispatches on.
private let quote: UInt8 = 0x22
private let backslash: UInt8 = 0x5C
private let comma: UInt8 = 0x2C
private let colon: UInt8 = 0x3A
private let minus: UInt8 = 0x2D
private let plus: UInt8 = 0x2B
private let dot: UInt8 = 0x2E
private let zero: UInt8 = 0x30
private let nine: UInt8 = 0x39
private let openBrace: UInt8 = 0x7B
private let closeBrace: UInt8 = 0x7D
private let openBracket: UInt8 = 0x5B
private let closeBracket: UInt8 = 0x5D

/// Recursive descent over raw bytes. Every read is preceded by an explicit bounds check, because
/// `UnsafeBufferPointer` does not check in release builds and hostile input must not crash the server.
struct JSONScanner {
  let buffer: UnsafeBufferPointer<UInt8>
  let maxDepth: Int
  var index = 0

  init(buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
    self.buffer = buffer
    self.maxDepth = maxDepth
  }

  @inline(__always)
  mutating func skipWhitespace() {
    while index < buffer.count {
      switch buffer[index] {
      case 0x20, 0x0A, 0x0D, 0x09: index += 1
      default: return
      }
    }
  }

  func describeByte(at offset: Int) -> String {
    guard offset < buffer.count else { return "end of input" }
    let byte = buffer[offset]
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    switch byte {
    case 0x20: return "a space"
    case 0x0A: return "a newline"
    default: return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }
  }

  func unexpected(_ expectation: String) -> ProtoJSONError {
    .syntax(at: index, "\(expectation), found \(describeByte(at: index))")
  }

  // MARK: Values

  mutating func parseValue(depth: Int) throws(ProtoJSONError) -> JSONValue {
    guard index < buffer.count else { throw unexpected("expected a JSON value") }
    switch buffer[index] {
    case quote:
      index += 1
      return .string(try parseStringBody())
    case openBrace:
      return try parseObject(depth: depth)
    case openBracket:
      return try parseArray(depth: depth)
    case minus, zero...nine:
      return try parseNumber()
    case 0x74:  // t
      try expectLiteral("true")
      return .bool(true)
    case 0x66:  // f
      try expectLiteral("false")
      return .bool(false)
    case 0x6E:  // n
      try expectLiteral("null")
      return .null
    default:
      throw unexpected("expected a JSON value")
    }
  }

  mutating func expectLiteral(_ literal: StaticString) throws(ProtoJSONError) {
    let start = index
    let matched = literal.withUTF8Buffer { expected -> Bool in
      guard buffer.count - start >= expected.count else { return false }
      for offset in 0..<expected.count where buffer[start + offset] != expected[offset] { return false }
      return true
    }
    guard matched else { throw .syntax(at: start, "invalid literal, expected \(literal)") }
    index += literal.utf8CodeUnitCount
  }

  mutating func enterContainer(depth: Int) throws(ProtoJSONError) {
    if depth >= maxDepth {
      throw ProtoJSONError(
        kind: .tooDeep, path: .root,
        message: "nesting deeper than \(maxDepth) levels at byte \(index)")
    }
  }

  mutating func parseArray(depth: Int) throws(ProtoJSONError) -> JSONValue {
    try enterContainer(depth: depth)
    index += 1
    skipWhitespace()
    if index < buffer.count && buffer[index] == closeBracket {
      index += 1
      return .array([])
    }
    var elements: [JSONValue] = []
    elements.reserveCapacity(4)
    while true {
      elements.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      guard index < buffer.count else { throw unexpected("expected ',' or ']'") }
      switch buffer[index] {
      case comma:
        index += 1
        skipWhitespace()
      case closeBracket:
        index += 1
        return .array(elements)
      default:
        throw unexpected("expected ',' or ']'")
      }
    }
  }

  /// Beyond this many members a set beats rescanning earlier keys for duplicates.
  static let linearDuplicateScanLimit = 12

  mutating func parseObject(depth: Int) throws(ProtoJSONError) -> JSONValue {
    try enterContainer(depth: depth)
    index += 1
    skipWhitespace()
    if index < buffer.count && buffer[index] == closeBrace {
      index += 1
      return .object(JSONObject(members: []))
    }
    // Growing from one member by doubling costs several reallocations for a typical message.
    var members: [(key: String, value: JSONValue)] = []
    members.reserveCapacity(8)
    var seen: Set<String>? = nil
    while true {
      guard index < buffer.count, buffer[index] == quote else {
        throw unexpected(members.isEmpty ? "expected a string key or '}'" : "expected a string key")
      }
      let keyStart = index
      index += 1
      let key = try parseStringBody()
      if seen != nil {
        if !seen!.insert(key).inserted { throw duplicateKey(key, at: keyStart) }
      } else {
        for member in members where member.key == key { throw duplicateKey(key, at: keyStart) }
        if members.count >= Self.linearDuplicateScanLimit {
          var keys = Set(members.map(\.key))
          keys.insert(key)
          seen = keys
        }
      }
      skipWhitespace()
      guard index < buffer.count, buffer[index] == colon else { throw unexpected("expected ':' after object key") }
      index += 1
      skipWhitespace()
      let value = try parseValue(depth: depth + 1)
      members.append((key: key, value: value))
      skipWhitespace()
      guard index < buffer.count else { throw unexpected("expected ',' or '}'") }
      switch buffer[index] {
      case comma:
        index += 1
        skipWhitespace()
      case closeBrace:
        index += 1
        return .object(JSONObject(members: members))
      default:
        throw unexpected("expected ',' or '}'")
      }
    }
  }

  func duplicateKey(_ key: String, at offset: Int) -> ProtoJSONError {
    ProtoJSONError(
      kind: .duplicateField, path: .root,
      message: "syntax error at byte \(offset): duplicate key \(JSONText.quoted(key)) in object")
  }

  // MARK: Numbers

  @inline(__always)
  func isDigit(at offset: Int) -> Bool {
    offset < buffer.count && buffer[offset] >= zero && buffer[offset] <= nine
  }

  mutating func skipDigits() {
    while index < buffer.count && buffer[index] >= zero && buffer[index] <= nine { index += 1 }
  }

  mutating func parseNumber() throws(ProtoJSONError) -> JSONValue {
    let start = index
    if buffer[index] == minus { index += 1 }
    guard index < buffer.count else { throw unexpected("expected a digit after '-'") }
    if buffer[index] == zero {
      index += 1
      if isDigit(at: index) { throw .syntax(at: start, "numbers must not have leading zeros") }
    } else if isDigit(at: index) {
      skipDigits()
    } else {
      throw unexpected("expected a digit after '-'")
    }
    if index < buffer.count && buffer[index] == dot {
      index += 1
      guard isDigit(at: index) else { throw unexpected("expected a digit after '.'") }
      skipDigits()
    }
    if index < buffer.count && (buffer[index] | 0x20) == 0x65 {  // e or E
      index += 1
      if index < buffer.count && (buffer[index] == plus || buffer[index] == minus) { index += 1 }
      guard isDigit(at: index) else { throw unexpected("expected a digit in the exponent") }
      skipDigits()
    }
    return .number(String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<index]), as: UTF8.self))
  }

  // MARK: Strings

  /// Starts just after the opening quote and leaves `index` just after the closing one.
  mutating func parseStringBody() throws(ProtoJSONError) -> String {
    let start = index
    var unionOfBytes: UInt8 = 0
    while index < buffer.count {
      let byte = buffer[index]
      if byte == quote || byte == backslash || byte < 0x20 {
        if byte == quote {
          let body = UnsafeBufferPointer(rebasing: buffer[start..<index])
          index += 1
          if unionOfBytes < 0x80 { return String(decoding: body, as: UTF8.self) }
          if let text = String(validating: body, as: UTF8.self) { return text }
          throw invalidUTF8(at: start + (JSONUTF8.firstInvalidOffset(in: body) ?? 0))
        }
        if byte == backslash { return try parseEscapedString(from: start) }
        throw controlCharacter(byte)
      }
      unionOfBytes |= byte
      index += 1
    }
    throw .syntax(at: start - 1, "unterminated string")
  }

  func controlCharacter(_ byte: UInt8) -> ProtoJSONError {
    .syntax(
      at: index,
      "control character 0x\(String(byte, radix: 16, uppercase: true)) must be escaped inside a string")
  }

  func invalidUTF8(at offset: Int) -> ProtoJSONError {
    .syntax(at: offset, "invalid UTF-8 in string")
  }

  /// The slow path, taken only once a backslash shows up: bytes are copied into a scratch buffer.
  mutating func parseEscapedString(from start: Int) throws(ProtoJSONError) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(index - start + 16)
    out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<index]))
    // The prefix before the backslash has not been checked for non-ASCII yet.
    var needsValidation = out.contains { $0 >= 0x80 }
    while index < buffer.count {
      let byte = buffer[index]
      switch byte {
      case quote:
        index += 1
        if !needsValidation { return String(decoding: out, as: UTF8.self) }
        if let text = String(validating: out, as: UTF8.self) { return text }
        // Escapes only produce valid UTF-8, so the culprit is a raw byte; find it in the source.
        let body = UnsafeBufferPointer(rebasing: buffer[start..<(index - 1)])
        throw invalidUTF8(at: start + (JSONUTF8.firstInvalidOffset(in: body) ?? 0))
      case backslash:
        let escapeStart = index
        index += 1
        guard index < buffer.count else { break }  // falls out of the loop: unterminated string
        switch buffer[index] {
        case quote: out.append(quote)
        case backslash: out.append(backslash)
        case 0x2F: out.append(0x2F)  // /
        case 0x62: out.append(0x08)  // b
        case 0x66: out.append(0x0C)  // f
        case 0x6E: out.append(0x0A)  // n
        case 0x72: out.append(0x0D)  // r
        case 0x74: out.append(0x09)  // t
        case 0x75:  // u
          let unit = try hex4(escapeStart: escapeStart)
          var scalarValue = UInt32(unit)
          if unit >= 0xD800 && unit <= 0xDBFF {
            let lowStart = index + 1
            guard lowStart + 1 < buffer.count, buffer[lowStart] == backslash, buffer[lowStart + 1] == 0x75 else {
              throw .syntax(at: escapeStart, "lone surrogate \\u\(hexText(unit)) is not valid Unicode")
            }
            index = lowStart + 1
            let low = try hex4(escapeStart: lowStart)
            guard low >= 0xDC00 && low <= 0xDFFF else {
              throw .syntax(at: escapeStart, "lone surrogate \\u\(hexText(unit)) is not valid Unicode")
            }
            scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
          } else if unit >= 0xDC00 && unit <= 0xDFFF {
            throw .syntax(at: escapeStart, "lone surrogate \\u\(hexText(unit)) is not valid Unicode")
          }
          // Surrogates were handled above, so every value here is a valid scalar.
          JSONUTF8.append(Unicode.Scalar(scalarValue)!, to: &out)
        default:
          throw .syntax(at: escapeStart, "invalid escape sequence \\\(describeEscaped(buffer[index]))")
        }
        index += 1
      default:
        if byte < 0x20 { throw controlCharacter(byte) }
        if byte >= 0x80 { needsValidation = true }
        out.append(byte)
        index += 1
      }
    }
    throw .syntax(at: start - 1, "unterminated string")
  }

  func describeEscaped(_ byte: UInt8) -> String {
    byte >= 0x21 && byte < 0x7F
      ? String(Character(Unicode.Scalar(byte))) : "followed by byte 0x" + String(byte, radix: 16, uppercase: true)
  }

  func hexText(_ unit: UInt16) -> String {
    let digits = String(unit, radix: 16, uppercase: true)
    return String(repeating: "0", count: 4 - digits.count) + digits
  }

  /// Reads the four hex digits after `\u`; `index` is on the `u` and ends on the last digit.
  mutating func hex4(escapeStart: Int) throws(ProtoJSONError) -> UInt16 {
    guard buffer.count - index > 4 else {
      throw .syntax(at: escapeStart, "\\u escape needs four hex digits")
    }
    var unit: UInt16 = 0
    for _ in 0..<4 {
      index += 1
      let byte = buffer[index]
      let digit: UInt8
      switch byte {
      case zero...nine: digit = byte - zero
      case 0x41...0x46: digit = byte - 0x41 + 10
      case 0x61...0x66: digit = byte - 0x61 + 10
      default: throw .syntax(at: escapeStart, "\\u escape needs four hex digits")
      }
      unit = unit << 4 | UInt16(digit)
    }
    return unit
  }
}

/// UTF-8 helpers the standard library does not expose.
enum JSONUTF8 {
  static func append(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
    let value = scalar.value
    switch value {
    case 0..<0x80:
      out.append(UInt8(value))
    case 0x80..<0x800:
      out.append(UInt8(0xC0 | value >> 6))
      out.append(UInt8(0x80 | value & 0x3F))
    case 0x800..<0x10000:
      out.append(UInt8(0xE0 | value >> 12))
      out.append(UInt8(0x80 | value >> 6 & 0x3F))
      out.append(UInt8(0x80 | value & 0x3F))
    default:
      out.append(UInt8(0xF0 | value >> 18))
      out.append(UInt8(0x80 | value >> 12 & 0x3F))
      out.append(UInt8(0x80 | value >> 6 & 0x3F))
      out.append(UInt8(0x80 | value & 0x3F))
    }
  }

  /// Only used to point an error message at the bad byte, so simplicity beats speed here.
  static func firstInvalidOffset(in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    var offset = 0
    while offset < bytes.count {
      let lead = bytes[offset]
      let length: Int
      var lowerBound: UInt8 = 0x80
      var upperBound: UInt8 = 0xBF
      switch lead {
      case 0x00...0x7F: offset += 1; continue
      case 0xC2...0xDF: length = 2
      case 0xE0: length = 3; lowerBound = 0xA0
      case 0xE1...0xEC, 0xEE...0xEF: length = 3
      case 0xED: length = 3; upperBound = 0x9F
      case 0xF0: length = 4; lowerBound = 0x90
      case 0xF1...0xF3: length = 4
      case 0xF4: length = 4; upperBound = 0x8F
      default: return offset
      }
      guard offset + length <= bytes.count else { return offset }
      let second = bytes[offset + 1]
      guard second >= lowerBound && second <= upperBound else { return offset }
      for continuation in (offset + 2)..<(offset + length) where bytes[continuation] & 0xC0 != 0x80 {
        return offset
      }
      offset += length
    }
    return nil
  }
}
