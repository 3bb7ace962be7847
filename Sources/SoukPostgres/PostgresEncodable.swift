import Foundation

/// A Swift value that can be sent as a bind parameter.
///
/// Conformers write PostgreSQL's binary representation of `postgresDataType` unless they
/// say `postgresFormat` is `.text`; a text value must not contain a NUL byte.
public protocol PostgresEncodable: Sendable {
    /// The parameter's type, as the server should see it.
    static var postgresDataType: PostgresDataType { get }
    /// The representation `encode(into:)` writes.
    static var postgresFormat: PostgresFormat { get }
    /// Appends the value's bytes (without any length prefix).
    func encode(into buffer: inout [UInt8])
}

extension PostgresEncodable {
    public static var postgresFormat: PostgresFormat { .binary }
}

extension FixedWidthInteger {
    @inline(__always)
    func appendBigEndian(to buffer: inout [UInt8]) {
        withUnsafeBytes(of: self.bigEndian) { buffer.append(contentsOf: $0) }
    }
}

extension String: PostgresEncodable {
    // Sent as text in binary format (the UTF-8 bytes): the server validates them, so a NUL
    // byte is refused with an error rather than silently cutting the string as a C string would.
    public static var postgresDataType: PostgresDataType { .text }
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Substring: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .text }
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Int16: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int2 }
    public func encode(into buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
}

extension Int32: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int4 }
    public func encode(into buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
}

extension Int64: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public func encode(into buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
}

extension Int: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public func encode(into buffer: inout [UInt8]) { Int64(self).appendBigEndian(to: &buffer) }
}

extension Bool: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .bool }
    public func encode(into buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
}

extension Double: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .float8 }
    public func encode(into buffer: inout [UInt8]) { bitPattern.appendBigEndian(to: &buffer) }
}

extension Array: PostgresEncodable where Element == UInt8 {
    /// `[UInt8]` is `bytea`.
    public static var postgresDataType: PostgresDataType { .bytea }
    public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension UUID: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .uuid }
    public func encode(into buffer: inout [UInt8]) {
        withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
    }
}

/// Microseconds between 1970-01-01 (Foundation's reference for `timeIntervalSince1970`)
/// and 2000-01-01 (PostgreSQL's epoch for timestamps).
let postgresEpochOffsetMicroseconds: Int64 = 946_684_800 * 1_000_000

extension Date: PostgresEncodable {
    /// A `Date` is a `timestamptz`, rounded to the microsecond PostgreSQL keeps.
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public func encode(into buffer: inout [UInt8]) {
        let micros: Int64
        if self == .distantFuture {
            micros = .max  // 'infinity'
        } else if self == .distantPast {
            micros = .min  // '-infinity'
        } else {
            micros = Int64((timeIntervalSince1970 * 1_000_000).rounded()) - postgresEpochOffsetMicroseconds
        }
        micros.appendBigEndian(to: &buffer)
    }
}
