import Foundation

/// A `numeric` value, kept as its decimal text so that no digit is lost to floating point.
///
/// Money in Souk is integer minor units; this type is for the odd exact decimal a schema
/// still needs. Equality compares the text: `1.50` and `1.5` differ, as their scales do.
public struct PostgresNumeric: Sendable, Hashable, CustomStringConvertible, LosslessStringConvertible {
    /// The decimal text, e.g. `-12.3400`, `NaN`, `Infinity`.
    public let text: String

    /// Accepts what PostgreSQL's `numeric` input accepts: an optional sign, digits with an
    /// optional fraction and exponent, `NaN`, `Infinity`, `-Infinity`. Nil for anything else.
    public init?(_ text: String) {
        guard PostgresNumeric.isValid(text) else { return nil }
        self.text = text
    }

    public init(_ value: Int64) { self.text = String(value) }

    public init(_ value: Decimal) { self.text = value.description }

    /// Trusted text from the server.
    init(unchecked text: String) { self.text = text }

    /// The value as a Foundation `Decimal` (nil for NaN and the infinities, or past Decimal's range).
    public var decimal: Decimal? { Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) }

    public var description: String { text }

    static func isValid(_ text: String) -> Bool {
        switch text.lowercased() {
        case "nan", "infinity", "+infinity", "-infinity", "inf", "+inf", "-inf": return true
        default: break
        }
        var bytes = Substring(text).utf8[...]
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        let integerDigits = bytes.prefix(while: isDigit).count
        bytes = bytes.dropFirst(integerDigits)
        var fractionDigits = 0
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fractionDigits = bytes.prefix(while: isDigit).count
            bytes = bytes.dropFirst(fractionDigits)
        }
        guard integerDigits + fractionDigits > 0 else { return false }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            let exponentDigits = bytes.prefix(while: isDigit).count
            guard exponentDigits > 0 else { return false }
            bytes = bytes.dropFirst(exponentDigits)
        }
        return bytes.isEmpty
    }
}

extension PostgresNumeric: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .numeric }
    // The text form: the server parses it exactly, and writing numeric's base-10000 binary
    // form would buy nothing but code.
    public static var postgresFormat: PostgresFormat { .text }
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: text.utf8) }
}

/// JSON text bound as `jsonb` (which assigns to `json` columns too) and read from either.
///
/// The library does not parse it: encode and decode with `JSONEncoder`/`JSONDecoder`
/// where the shape is known. Note that `jsonb` normalises whitespace and key order.
public struct PostgresJSON: Sendable, Hashable, CustomStringConvertible {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }
}

extension PostgresJSON: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .jsonb }
    public func encode(into buffer: inout [UInt8]) {
        buffer.append(1)  // jsonb's binary format version
        buffer.append(contentsOf: text.utf8)
    }
}
