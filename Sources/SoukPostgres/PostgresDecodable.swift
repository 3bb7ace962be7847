import Foundation

/// A Swift type that can be read from a result column.
///
/// Conformers read PostgreSQL's binary format (results are always requested in binary) and
/// throw `value.typeMismatch(Self.self)` for a PostgreSQL type they do not read, which
/// names the column, the Swift type and the PostgreSQL type.
public protocol PostgresDecodable: Sendable {
    /// Reads a non-NULL value.
    init(postgresValue value: PostgresValue) throws
    /// The value for SQL NULL; the default throws, `Optional` returns nil.
    static func decodeNull(_ value: PostgresValue) throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull(_ value: PostgresValue) throws -> Self {
        throw PostgresDecodingError(reason: .unexpectedNull, column: value.columnName, columnIndex: value.columnIndex,
                                    swiftType: "\(Self.self)", postgresType: value.dataType)
    }
}

/// A column that could not be read as the Swift type asked for.
public struct PostgresDecodingError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The column's PostgreSQL type is not one the Swift type reads.
        case typeMismatch
        /// The column is NULL and the Swift type is not optional.
        case unexpectedNull
        /// No column has that name (or index).
        case noSuchColumn(available: [String])
        /// The bytes do not fit the type (a server or library bug, or a value out of range).
        case malformed(String)
    }

    public let reason: Reason
    /// The column name (or `#index`).
    public let column: String
    public let columnIndex: Int?
    /// The Swift type that was wanted.
    public let swiftType: String
    /// The PostgreSQL type found, by OID.
    public let postgresType: PostgresDataType?

    public var description: String {
        switch reason {
        case .typeMismatch:
            "column \"\(column)\" has PostgreSQL type \(postgresType?.name ?? "?"), which cannot be decoded as Swift type \(swiftType)"
        case .unexpectedNull:
            "column \"\(column)\" (PostgreSQL type \(postgresType?.name ?? "?")) is NULL, but Swift type \(swiftType) is not optional"
        case .noSuchColumn(let available):
            "no column \"\(column)\" to decode as Swift type \(swiftType); the columns are: \(available.joined(separator: ", "))"
        case .malformed(let why):
            "column \"\(column)\" (PostgreSQL type \(postgresType?.name ?? "?")) cannot be decoded as Swift type \(swiftType): \(why)"
        }
    }
}

extension ArraySlice<UInt8> {
    /// A big-endian integer made of exactly these bytes, or nil when the count differs.
    @inline(__always)
    func bigEndianInteger<I: FixedWidthInteger>(_: I.Type) -> I? {
        guard count == MemoryLayout<I>.size else { return nil }
        var value: I = 0
        for byte in self { value = value << 8 | I(truncatingIfNeeded: byte) }
        return value
    }
}

extension PostgresValue {
    /// Reads int2/int4/int8 into `I` when `accepted` allows the column type.
    fileprivate func integer<I: FixedWidthInteger>(_: I.Type, accepting accepted: [PostgresDataType]) throws -> I {
        guard accepted.contains(dataType) else { throw typeMismatch(I.self) }
        let wide: Int64?
        switch dataType {
        case .int2: wide = bytes.bigEndianInteger(Int16.self).map(Int64.init)
        case .int4: wide = bytes.bigEndianInteger(Int32.self).map(Int64.init)
        case .int8: wide = bytes.bigEndianInteger(Int64.self)
        default: wide = nil
        }
        guard let wide, let value = I(exactly: wide) else { throw malformed(I.self, "\(bytes.count) bytes") }
        return value
    }
}

extension Int16: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws { self = try value.integer(Int16.self, accepting: [.int2]) }
}

extension Int32: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws { self = try value.integer(Int32.self, accepting: [.int2, .int4]) }
}

extension Int64: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws { self = try value.integer(Int64.self, accepting: [.int2, .int4, .int8]) }
}

extension Int: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws { self = try value.integer(Int.self, accepting: [.int2, .int4, .int8]) }
}

extension Bool: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws {
        guard value.dataType == .bool else { throw value.typeMismatch(Bool.self) }
        guard value.bytes.count == 1 else { throw value.malformed(Bool.self, "\(value.bytes.count) bytes") }
        self = value.bytes.first! != 0
    }
}

extension Double: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws {
        switch value.dataType {
        case .float8:
            guard let bits = value.bytes.bigEndianInteger(UInt64.self) else { throw value.malformed(Double.self, "\(value.bytes.count) bytes") }
            self = Double(bitPattern: bits)
        case .float4:
            guard let bits = value.bytes.bigEndianInteger(UInt32.self) else { throw value.malformed(Double.self, "\(value.bytes.count) bytes") }
            self = Double(Float(bitPattern: bits))
        default:
            throw value.typeMismatch(Double.self)
        }
    }
}

/// The textual types whose binary form is their UTF-8 text.
private let textualTypes: [PostgresDataType] = [.text, .varchar, .bpchar, .name, .unknown, .json, .xml]

extension String: PostgresDecodable {
    /// Reads the textual types (text, varchar, char(n), name) and json/jsonb as their text.
    public init(postgresValue value: PostgresValue) throws {
        if textualTypes.contains(value.dataType) {
            self = String(decoding: value.bytes, as: UTF8.self)
        } else if value.dataType == .jsonb {
            guard value.bytes.first == 1 else { throw value.malformed(String.self, "unknown jsonb format version") }
            self = String(decoding: value.bytes.dropFirst(), as: UTF8.self)
        } else {
            throw value.typeMismatch(String.self)
        }
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    public init(postgresValue value: PostgresValue) throws {
        guard value.dataType == .bytea else { throw value.typeMismatch([UInt8].self) }
        self = Array(value.bytes)
    }
}

extension UUID: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws {
        guard value.dataType == .uuid else { throw value.typeMismatch(UUID.self) }
        guard value.bytes.count == 16 else { throw value.malformed(UUID.self, "\(value.bytes.count) bytes") }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { $0.copyBytes(from: value.bytes) }
        self = UUID(uuid: uuid)
    }
}

extension Date: PostgresDecodable {
    /// Reads timestamptz, and timestamp (without time zone) as UTC.
    public init(postgresValue value: PostgresValue) throws {
        guard value.dataType == .timestamptz || value.dataType == .timestamp else { throw value.typeMismatch(Date.self) }
        guard let micros = value.bytes.bigEndianInteger(Int64.self) else { throw value.malformed(Date.self, "\(value.bytes.count) bytes") }
        switch micros {
        case .max: self = .distantFuture
        case .min: self = .distantPast
        default:
            // Whole seconds and the microsecond remainder apart, so large values keep their precision.
            let sinceUnix = micros + postgresEpochOffsetMicroseconds
            let (seconds, remainder) = sinceUnix.quotientAndRemainder(dividingBy: 1_000_000)
            self = Date(timeIntervalSince1970: Double(seconds) + Double(remainder) / 1_000_000)
        }
    }
}

extension PostgresNumeric: PostgresDecodable {
    /// Reads numeric (exactly, as decimal text) and the integer types.
    public init(postgresValue value: PostgresValue) throws {
        switch value.dataType {
        case .int2, .int4, .int8:
            self.init(try Int64(postgresValue: value))
        case .numeric:
            guard let text = PostgresNumeric.text(fromBinary: value.bytes) else {
                throw value.malformed(PostgresNumeric.self, "invalid numeric binary form")
            }
            self.init(unchecked: text)
        default:
            throw value.typeMismatch(PostgresNumeric.self)
        }
    }

    /// numeric's binary form: ndigits, weight, sign, dscale (int16 each), then ndigits
    /// base-10000 digits; digit i has weight `weight - i`. Mirrors PostgreSQL's get_str_from_var.
    static func text(fromBinary bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.count >= 8 else { return nil }
        let base = bytes.startIndex
        func int16(_ at: Int) -> Int? { bytes[base + at ..< base + at + 2].bigEndianInteger(Int16.self).map(Int.init) }
        guard let ndigits = int16(0), let weight = int16(2), let dscale = int16(6),
              let sign = bytes[base + 4 ..< base + 6].bigEndianInteger(UInt16.self),
              ndigits >= 0, dscale >= 0, bytes.count == 8 + 2 * ndigits else { return nil }
        switch sign {
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        case 0x0000, 0x4000: break
        default: return nil
        }
        var digits = [Int](repeating: 0, count: ndigits)
        for i in 0 ..< ndigits {
            guard let digit = int16(8 + 2 * i), digit >= 0, digit < 10_000 else { return nil }
            digits[i] = digit
        }
        func digit(weight w: Int) -> Int {
            let i = weight - w
            return i >= 0 && i < ndigits ? digits[i] : 0
        }
        var text = sign == 0x4000 ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            text += String(digit(weight: weight))
            if weight > 0 {
                for w in stride(from: weight - 1, through: 0, by: -1) { text += fourDigits(digit(weight: w)) }
            }
        }
        if dscale > 0 {
            var fraction = ""
            var w = -1
            while fraction.count < dscale {
                fraction += fourDigits(digit(weight: w))
                w -= 1
            }
            text += "." + fraction.prefix(dscale)
        }
        return text
    }

    private static func fourDigits(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: 4 - s.count) + s
    }
}

extension PostgresJSON: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws {
        switch value.dataType {
        case .json, .jsonb: self.init(try String(postgresValue: value))
        default: throw value.typeMismatch(PostgresJSON.self)
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresValue value: PostgresValue) throws { self = .some(try Wrapped(postgresValue: value)) }
    public static func decodeNull(_ value: PostgresValue) throws -> Wrapped? { nil }
}
