/// Writes compact JSON (no spaces) into a byte array; the generated `encodeJSON` methods drive it.
///
/// Comma placement needs no stack: a comma is due exactly when the previous thing written was a complete
/// value (a scalar or a closed container), and never right after `{`, `[` or a key.
public struct JSONWriter: Sendable {
  /// The JSON written so far.
  public private(set) var bytes: [UInt8]
  var needsComma = false
  /// How generated messages choose what to write.
  public let options: JSONEncodingOptions
  /// The first value that has no JSON form (a Timestamp past year 9999, a FieldMask path that cannot
  /// be written in lowerCamelCase); the output is not valid proto3 JSON once this is set.
  public private(set) var error: ProtoJSONError?

  /// Starts empty, with room for a typical small message so short encodes do not regrow.
  public init(options: JSONEncodingOptions = JSONEncodingOptions()) {
    self.init(reservingCapacity: 256, options: options)
  }

  init(reservingCapacity capacity: Int, options: JSONEncodingOptions = JSONEncodingOptions()) {
    bytes = []
    bytes.reserveCapacity(capacity)
    self.options = options
  }

  /// Whether fields at their default value are written too (`options.emitUnpopulated`).
  @inlinable
  public var emitUnpopulated: Bool { options.emitUnpopulated }

  /// Records that a value has no JSON form and writes `null` in its place; the first error is kept.
  public mutating func fail(_ error: ProtoJSONError) {
    if self.error == nil { self.error = error }
    valueNull()
  }

  /// The bytes as UTF-8 text.
  public var string: String { String(decoding: bytes, as: UTF8.self) }

  @inline(__always)
  mutating func separate() {
    if needsComma { bytes.append(0x2C) }
  }

  /// Writes `{`.
  public mutating func beginObject() {
    separate()
    bytes.append(0x7B)
    needsComma = false
  }

  /// Writes `}`.
  public mutating func endObject() {
    bytes.append(0x7D)
    needsComma = true
  }

  /// Writes `[`.
  public mutating func beginArray() {
    separate()
    bytes.append(0x5B)
    needsComma = false
  }

  /// Writes `]`.
  public mutating func endArray() {
    bytes.append(0x5D)
    needsComma = true
  }

  /// Writes `"name":` for a field name of a generated message: a known-safe ASCII identifier, copied
  /// without escaping. (A separate name from `key(_:)`, since a string literal would pick the `String` overload.)
  public mutating func fieldKey(_ name: StaticString) {
    separate()
    bytes.append(0x22)
    name.withUTF8Buffer { bytes.append(contentsOf: $0) }
    bytes.append(0x22)
    bytes.append(0x3A)
    needsComma = false
  }

  /// Writes the key of a field whose JSON name (`unitPrice`) differs from its proto name (`unit_price`),
  /// choosing by `options.useProtoFieldNames`.
  public mutating func fieldKey(_ jsonName: StaticString, proto protoName: StaticString) {
    fieldKey(options.useProtoFieldNames ? protoName : jsonName)
  }

  /// Writes an escaped `"name":`, for map keys and other text from users.
  public mutating func key(_ name: String) {
    separate()
    appendQuoted(name)
    bytes.append(0x3A)
    needsComma = false
  }

  // MARK: Values

  /// An escaped JSON string; non-ASCII text (including U+2028/U+2029) is written verbatim as UTF-8.
  public mutating func value(_ v: String) {
    separate()
    appendQuoted(v)
    needsComma = true
  }

  /// `true` or `false`.
  public mutating func value(_ v: Bool) {
    separate()
    if v { appendASCII("true") } else { appendASCII("false") }
    needsComma = true
  }

  /// A bare number.
  public mutating func value(_ v: Int32) {
    separate()
    appendDecimal(UInt64(v.magnitude), negative: v < 0)
    needsComma = true
  }

  /// A bare number.
  public mutating func value(_ v: UInt32) {
    separate()
    appendDecimal(UInt64(v), negative: false)
    needsComma = true
  }

  /// A quoted number (`"123"`), as proto3 JSON requires, because JavaScript doubles cannot hold every int64.
  public mutating func value(_ v: Int64) {
    separate()
    bytes.append(0x22)
    appendDecimal(v.magnitude, negative: v < 0)
    bytes.append(0x22)
    needsComma = true
  }

  /// A quoted number (`"123"`), as proto3 JSON requires.
  public mutating func value(_ v: UInt64) {
    separate()
    bytes.append(0x22)
    appendDecimal(v, negative: false)
    bytes.append(0x22)
    needsComma = true
  }

  /// The shortest text that reads back as the same double: integral values without `.0`, exponents as Swift
  /// writes them (`1e+100`); NaN and infinities as the quoted strings proto3 JSON uses.
  public mutating func value(_ v: Double) {
    separate()
    if v.isNaN {
      appendASCII("\"NaN\"")
    } else if v.isInfinite {
      appendASCII(v < 0 ? "\"-Infinity\"" : "\"Infinity\"")
    } else if v.magnitude < 1e15, Double(Int64(v)) == v {
      // Swift prints these as "<integer>.0"; formatting the integer directly skips the float printer.
      // (The Int64 round trip tests integrality without `rounded()`, which would need libm.)
      if v == 0 && v.sign == .minus {
        appendASCII("-0")
      } else {
        let integer = Int64(v)
        appendDecimal(integer.magnitude, negative: integer < 0)
      }
    } else {
      appendFloatingPoint(v.description)
    }
    needsComma = true
  }

  /// Like the `Double` form but with Float's own shortest text, so `0.1 as Float` prints `0.1`.
  public mutating func value(_ v: Float) {
    separate()
    if v.isNaN {
      appendASCII("\"NaN\"")
    } else if v.isInfinite {
      appendASCII(v < 0 ? "\"-Infinity\"" : "\"Infinity\"")
    } else if v.magnitude < 1e7, Float(Int64(v)) == v {
      if v == 0 && v.sign == .minus {
        appendASCII("-0")
      } else {
        let integer = Int64(v)
        appendDecimal(integer.magnitude, negative: integer < 0)
      }
    } else {
      appendFloatingPoint(v.description)
    }
    needsComma = true
  }

  /// Standard base64 with padding, quoted.
  public mutating func value(bytes data: [UInt8]) {
    separate()
    bytes.append(0x22)
    ProtoJSONBase64.encode(data, into: &bytes)
    bytes.append(0x22)
    needsComma = true
  }

  /// Writes `null`.
  public mutating func valueNull() {
    separate()
    appendASCII("null")
    needsComma = true
  }

  /// Appends already-encoded JSON (a nested message encoded elsewhere); the caller vouches for its validity.
  public mutating func raw(_ fragment: String) {
    separate()
    bytes.append(contentsOf: fragment.utf8)
    needsComma = true
  }

  // MARK: Internals

  @inline(__always)
  mutating func appendASCII(_ text: StaticString) {
    text.withUTF8Buffer { bytes.append(contentsOf: $0) }
  }

  /// Drops the ".0" Swift puts on integral values; every other form Swift prints is already valid JSON.
  mutating func appendFloatingPoint(_ text: String) {
    var text = text
    text.withUTF8 { utf8 in
      var count = utf8.count
      if count > 2 && utf8[count - 2] == 0x2E && utf8[count - 1] == 0x30 { count -= 2 }
      bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[0..<count]))
    }
  }

  mutating func appendDecimal(_ magnitude: UInt64, negative: Bool) {
    if negative { bytes.append(0x2D) }
    if magnitude < 10 {
      bytes.append(0x30 + UInt8(magnitude))
      return
    }
    // UInt64.max has 20 digits; digits are produced backwards into a stack buffer.
    var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &scratch) { digits in
      var position = digits.count
      var remaining = magnitude
      repeat {
        let (quotient, digit) = remaining.quotientAndRemainder(dividingBy: 10)
        position -= 1
        digits[position] = 0x30 + UInt8(truncatingIfNeeded: digit)
        remaining = quotient
      } while remaining != 0
      bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: digits[position...]))
    }
  }

  mutating func appendQuoted(_ text: String) {
    bytes.append(0x22)
    var text = text
    text.withUTF8 { appendEscaped($0) }
    bytes.append(0x22)
  }

  /// Copies runs of bytes that need no escaping in one go; most strings are a single run.
  mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
    var runStart = 0
    for position in 0..<utf8.count {
      let byte = utf8[position]
      if byte >= 0x20 && byte != 0x22 && byte != 0x5C { continue }
      if runStart < position {
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
      }
      runStart = position + 1
      bytes.append(0x5C)
      switch byte {
      case 0x22: bytes.append(0x22)
      case 0x5C: bytes.append(0x5C)
      case 0x0A: bytes.append(0x6E)  // n
      case 0x0D: bytes.append(0x72)  // r
      case 0x09: bytes.append(0x74)  // t
      case 0x08: bytes.append(0x62)  // b
      case 0x0C: bytes.append(0x66)  // f
      default:
        let hexDigits: StaticString = "0123456789abcdef"
        appendASCII("u00")
        hexDigits.withUTF8Buffer { hex in
          bytes.append(hex[Int(byte >> 4)])
          bytes.append(hex[Int(byte & 0x0F)])
        }
      }
    }
    if runStart < utf8.count {
      bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
    }
  }
}
