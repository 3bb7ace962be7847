/// Number-literal arithmetic shared by the typed reads. Works on the literal text so int64 values never
/// pass through Double.
enum JSONNumber {
  enum IntegerResult: Equatable {
    case value(negative: Bool, magnitude: UInt64)
    /// Has a fractional part, e.g. 1.5 or 15e-1.
    case notInteger
    /// An integer, but wider than 64 bits.
    case overflow
  }

  /// True when `text` follows the JSON number grammar exactly (no whitespace, no `+`, no leading zeros).
  static func isValidLiteral(_ text: String) -> Bool {
    var text = text
    return text.withUTF8 { isValidLiteral($0) }
  }

  static func isValidLiteral(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
    var index = 0
    func digit(_ offset: Int) -> Bool { offset < utf8.count && utf8[offset] >= 0x30 && utf8[offset] <= 0x39 }
    if index < utf8.count && utf8[index] == 0x2D { index += 1 }
    guard digit(index) else { return false }
    if utf8[index] == 0x30 {
      index += 1
    } else {
      while digit(index) { index += 1 }
    }
    if index < utf8.count && utf8[index] == 0x2E {
      index += 1
      guard digit(index) else { return false }
      while digit(index) { index += 1 }
    }
    if index < utf8.count && (utf8[index] | 0x20) == 0x65 {
      index += 1
      if index < utf8.count && (utf8[index] == 0x2B || utf8[index] == 0x2D) { index += 1 }
      guard digit(index) else { return false }
      while digit(index) { index += 1 }
    }
    return index == utf8.count
  }

  /// The exact integer a valid literal denotes, if it is one. `1.0`, `1e2` and `100e-2` are integers.
  static func integer(fromLiteral text: String) -> IntegerResult {
    var text = text
    return text.withUTF8 { integer(fromLiteral: $0) }
  }

  static func integer(fromLiteral utf8: UnsafeBufferPointer<UInt8>) -> IntegerResult {
    var index = 0
    let negative = utf8.count > 0 && utf8[0] == 0x2D
    if negative { index = 1 }

    // Fast path: a plain integer of at most 18 digits cannot overflow UInt64.
    var magnitude: UInt64 = 0
    let plainStart = index
    while index < utf8.count, index - plainStart < 18 {
      let byte = utf8[index]
      guard byte >= 0x30 && byte <= 0x39 else { break }
      magnitude = magnitude * 10 + UInt64(byte - 0x30)
      index += 1
    }
    if index == utf8.count && index > plainStart { return .value(negative: negative, magnitude: magnitude) }

    // General path: digits (integer part then fraction) times a power of ten.
    index = plainStart
    let integerStart = index
    while index < utf8.count && utf8[index] >= 0x30 && utf8[index] <= 0x39 { index += 1 }
    let integerEnd = index
    var fractionStart = index, fractionEnd = index
    if index < utf8.count && utf8[index] == 0x2E {
      index += 1
      fractionStart = index
      while index < utf8.count && utf8[index] >= 0x30 && utf8[index] <= 0x39 { index += 1 }
      fractionEnd = index
    }
    var exponent = 0
    if index < utf8.count && (utf8[index] | 0x20) == 0x65 {
      index += 1
      var exponentNegative = false
      if index < utf8.count && (utf8[index] == 0x2B || utf8[index] == 0x2D) {
        exponentNegative = utf8[index] == 0x2D
        index += 1
      }
      while index < utf8.count && utf8[index] >= 0x30 && utf8[index] <= 0x39 {
        // Saturate: anything this large is out of range (or zero) either way.
        if exponent < 1_000_000_000 { exponent = exponent * 10 + Int(utf8[index] - 0x30) }
        index += 1
      }
      if exponentNegative { exponent = -exponent }
    }

    // Positions run over the integer digits then the fraction digits as one sequence.
    let integerCount = integerEnd - integerStart
    let fractionCount = fractionEnd - fractionStart
    let total = integerCount + fractionCount
    func digitAt(_ position: Int) -> UInt8 {
      position < integerCount
        ? utf8[integerStart + position] - 0x30 : utf8[fractionStart + position - integerCount] - 0x30
    }
    var first = 0
    while first < total && digitAt(first) == 0 { first += 1 }
    if first == total { return .value(negative: negative, magnitude: 0) }
    var last = total - 1
    while digitAt(last) == 0 { last -= 1 }

    // value = digits[first...last] × 10^scale
    let scale = exponent - fractionCount + (total - 1 - last)
    if scale < 0 { return .notInteger }
    if last - first + 1 + scale > 20 { return .overflow }
    magnitude = 0
    for position in first...last {
      let (shifted, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digitAt(position)))
      if overflow1 || overflow2 { return .overflow }
      magnitude = sum
    }
    for _ in 0..<scale {
      let (shifted, overflow) = magnitude.multipliedReportingOverflow(by: 10)
      if overflow { return .overflow }
      magnitude = shifted
    }
    return .value(negative: negative, magnitude: magnitude)
  }

  static let doublePowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
  ]

  /// Splits a valid literal into (negative, mantissa, decimal exponent) when the mantissa fits in
  /// `maxMantissa`; nil otherwise. Feeds the exact fast paths below.
  static func smallDecimal(_ utf8: UnsafeBufferPointer<UInt8>, maxMantissa: UInt64) -> (Bool, UInt64, Int)? {
    var index = 0
    let negative = utf8.count > 0 && utf8[0] == 0x2D
    if negative { index = 1 }
    var mantissa: UInt64 = 0
    var scale = 0
    var inFraction = false
    while index < utf8.count {
      let byte = utf8[index]
      if byte >= 0x30 && byte <= 0x39 {
        mantissa = mantissa &* 10 &+ UInt64(byte - 0x30)
        if mantissa > maxMantissa { return nil }
        if inFraction { scale -= 1 }
      } else if byte == 0x2E {
        inFraction = true
      } else {
        break
      }
      index += 1
    }
    if index < utf8.count {
      // An exponent; keep it simple and small.
      index += 1
      var exponentNegative = false
      if index < utf8.count && (utf8[index] == 0x2B || utf8[index] == 0x2D) {
        exponentNegative = utf8[index] == 0x2D
        index += 1
      }
      var exponent = 0
      while index < utf8.count {
        exponent = exponent * 10 + Int(utf8[index] - 0x30)
        if exponent > 400 { return nil }
        index += 1
      }
      scale += exponentNegative ? -exponent : exponent
    }
    return (negative, mantissa, scale)
  }

  /// Correctly rounded; may be infinite when the literal is beyond Double's range.
  static func double(fromLiteral text: String) -> Double? {
    var text = text
    let fast = text.withUTF8 { utf8 -> Double? in
      // Clinger's fast path: one exact operand times or divided by an exact power of ten rounds correctly.
      guard let (negative, mantissa, scale) = smallDecimal(utf8, maxMantissa: 1 << 53),
        scale >= -22 && scale <= 22
      else { return nil }
      let base = Double(mantissa)
      let value = scale >= 0 ? base * doublePowersOfTen[scale] : base / doublePowersOfTen[-scale]
      return negative ? -value : value
    }
    return fast ?? Double(text)
  }

  static let floatPowersOfTen: [Float] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10]

  /// Rounded directly to Float (not via Double, which could round twice); may be infinite.
  static func float(fromLiteral text: String) -> Float? {
    var text = text
    let fast = text.withUTF8 { utf8 -> Float? in
      guard let (negative, mantissa, scale) = smallDecimal(utf8, maxMantissa: 1 << 24),
        scale >= -10 && scale <= 10
      else { return nil }
      let base = Float(mantissa)
      let value = scale >= 0 ? base * floatPowersOfTen[scale] : base / floatPowersOfTen[-scale]
      return negative ? -value : value
    }
    return fast ?? Float(text)
  }
}
