/// The protobuf wire format, for messages known only by their descriptors.
enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

/// A malformed or unsupported encoding, said in words.
public struct WireFormatError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Reads protobuf wire format from a byte array.
struct WireReader {
    let bytes: [UInt8]
    var position: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = end ?? bytes.count
    }

    var isAtEnd: Bool { position >= end }

    mutating func varint() throws(WireFormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw WireFormatError("a varint runs past the end of the message") }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { throw WireFormatError("a varint is longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw WireFormatError("a varint is longer than 10 bytes") }
        }
    }

    mutating func tag() throws(WireFormatError) -> (number: Int32, type: WireType) {
        let key = try varint()
        guard let type = WireType(rawValue: UInt8(key & 7)) else { throw WireFormatError("unknown wire type \(key & 7)") }
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else { throw WireFormatError("field number \(number) is out of range") }
        return (Int32(number), type)
    }

    mutating func fixed32() throws(WireFormatError) -> UInt32 {
        guard end - position >= 4 else { throw WireFormatError("a fixed32 runs past the end of the message") }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[position + index]) << (8 * UInt32(index)) }
        position += 4
        return value
    }

    mutating func fixed64() throws(WireFormatError) -> UInt64 {
        guard end - position >= 8 else { throw WireFormatError("a fixed64 runs past the end of the message") }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
        position += 8
        return value
    }

    /// The bounds of a length-delimited value, consumed.
    mutating func lengthDelimited() throws(WireFormatError) -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw WireFormatError("a length-delimited field runs past the end of the message") }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    /// Skips one value of `type`, returning its bounds (the tag not included).
    mutating func skip(_ type: WireType, number: Int32) throws(WireFormatError) -> Range<Int> {
        let start = position
        switch type {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        case .startGroup:
            while true {
                guard !isAtEnd else { throw WireFormatError("a group is not closed") }
                let inner = try tag()
                if inner.type == .endGroup {
                    guard inner.number == number else { throw WireFormatError("a group is closed by the wrong number") }
                    break
                }
                _ = try skip(inner.type, number: inner.number)
            }
        case .endGroup: throw WireFormatError("an end-group tag without its group")
        }
        return start..<position
    }

    func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    /// Calls `body` with the number and bounds of each length-delimited field of the message in
    /// `range`, skipping the others: what reading a descriptor needs, field after field.
    static func forEachLengthDelimited(_ bytes: [UInt8], in range: Range<Int>,
                                       _ body: (Int32, Range<Int>) throws(WireFormatError) -> Void) throws(WireFormatError) {
        var reader = WireReader(bytes, from: range.lowerBound, to: range.upperBound)
        while !reader.isAtEnd {
            let (number, type) = try reader.tag()
            guard type == .lengthDelimited else {
                _ = try reader.skip(type, number: number)
                continue
            }
            try body(number, try reader.lengthDelimited())
        }
    }
}

/// Writes protobuf wire format.
struct WireWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func tag(_ number: Int32, _ type: WireType) {
        varint(UInt64(UInt32(number)) << 3 | UInt64(type.rawValue))
    }

    mutating func fixed32(_ value: UInt32) {
        for index in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(index)))) }
    }

    mutating func fixed64(_ value: UInt64) {
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    mutating func lengthDelimited(_ payload: [UInt8]) {
        varint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    static func zigzag32(_ value: Int32) -> UInt64 { UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))) }
    static func zigzag64(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }
}

extension WireReader {
    static func unzigzag32(_ value: UInt64) -> Int32 {
        let low = UInt32(truncatingIfNeeded: value)
        return Int32(bitPattern: (low >> 1) ^ (0 &- (low & 1)))
    }

    static func unzigzag64(_ value: UInt64) -> Int64 { Int64(bitPattern: (value >> 1) ^ (0 &- (value & 1))) }
}
