import NIOCore

/// Why a frame header could not be read: the bytes are not a protobuf `FrameHeader`.
struct ProtoWireError: Error {
    let reason: String
}

/// Reads protobuf wire format from memory the caller owns.
///
/// The frame headers are read by hand rather than through protobuf-c because
/// they are on the path of every call: this reader allocates nothing, and the
/// method name stays a slice of the received bytes until the router needs it.
/// Tests check it against the generated `FrameHeader` codec byte for byte.
struct ProtoReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) {
        self.bytes = bytes
        self.offset = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { offset >= end }

    mutating func readVarint() throws(ProtoWireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end {
            let byte = bytes[offset]
            offset += 1
            if shift < 64 { result |= UInt64(byte & 0x7F) << shift }
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift >= 70 { throw ProtoWireError(reason: "a varint is longer than 10 bytes") }
        }
        throw ProtoWireError(reason: "a varint runs past the end of the header")
    }

    /// The next field's number and wire type, or nil at the end.
    mutating func readTag() throws(ProtoWireError) -> (field: UInt64, wireType: UInt8)? {
        if isAtEnd { return nil }
        let tag = try readVarint()
        let field = tag >> 3
        if field == 0 { throw ProtoWireError(reason: "field number 0") }
        return (field, UInt8(tag & 7))
    }

    /// The byte range of a length-delimited field's contents.
    mutating func readLengthDelimited() throws(ProtoWireError) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(end - offset) else {
            throw ProtoWireError(reason: "a length-delimited field of \(length) bytes runs past the end of the header")
        }
        let start = offset
        offset += Int(length)
        return start..<offset
    }

    /// Skips a field this reader does not know, as protobuf requires.
    mutating func skip(wireType: UInt8) throws(ProtoWireError) {
        switch wireType {
        case 0: _ = try readVarint()
        case 1: try advance(8)
        case 2: _ = try readLengthDelimited()
        case 5: try advance(4)
        default: throw ProtoWireError(reason: "unsupported wire type \(wireType)")
        }
    }

    private mutating func advance(_ count: Int) throws(ProtoWireError) {
        guard end - offset >= count else { throw ProtoWireError(reason: "a fixed-width field runs past the end of the header") }
        offset += count
    }

    /// A length-delimited field holding a proto3 string: valid UTF-8 without U+0000,
    /// the same rule the generated decoders apply.
    func string(_ range: Range<Int>, field: StaticString) throws(ProtoWireError) -> String {
        if range.isEmpty { return "" }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
        var ascii = true
        for byte in slice {
            if byte == 0 { throw ProtoWireError(reason: "field \(field) contains U+0000") }
            if byte >= 0x80 { ascii = false }
        }
        if ascii { return String(decoding: slice, as: UTF8.self) }
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw ProtoWireError(reason: "field \(field) is not valid UTF-8")
        }
        return string
    }

    /// Checks that a string field is valid without making a String.
    /// The bytes as a String whatever they hold: invalid UTF-8 becomes U+FFFD, U+0000
    /// stays. For request metadata, which the metadata rules judge, not the framing.
    func lossyString(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    func validateString(_ range: Range<Int>, field: StaticString) throws(ProtoWireError) {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
        var ascii = true
        for byte in slice {
            if byte == 0 { throw ProtoWireError(reason: "field \(field) contains U+0000") }
            if byte >= 0x80 { ascii = false }
        }
        if !ascii && String(validating: slice, as: UTF8.self) == nil {
            throw ProtoWireError(reason: "field \(field) is not valid UTF-8")
        }
    }

    func bytesArray(_ range: Range<Int>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    func expect(_ wireType: UInt8, _ expected: UInt8, field: StaticString) throws(ProtoWireError) {
        if wireType != expected {
            throw ProtoWireError(reason: "field \(field) has wire type \(wireType), expected \(expected)")
        }
    }
}

/// Writes protobuf wire format into a ByteBuffer.
enum ProtoWriter {
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        // 1 byte per 7 significant bits, at least 1.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    @inline(__always)
    static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer) {
        var value = value
        while value >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.writeInteger(UInt8(value))
    }

    /// The size of a length-delimited field with a one-byte tag.
    @inline(__always)
    static func lengthDelimitedSize(_ length: Int) -> Int {
        1 + varintSize(UInt64(length)) + length
    }

    /// The size of a varint field with a one-byte tag; 0 when the value is the default.
    @inline(__always)
    static func varintFieldSize(_ value: UInt64) -> Int {
        value == 0 ? 0 : 1 + varintSize(value)
    }

    @inline(__always)
    static func writeVarintField(_ tag: UInt8, _ value: UInt64, to buffer: inout ByteBuffer) {
        guard value != 0 else { return }
        buffer.writeInteger(tag)
        writeVarint(value, to: &buffer)
    }

    @inline(__always)
    static func writeStringField(_ tag: UInt8, _ value: String, utf8Count: Int, to buffer: inout ByteBuffer) {
        guard utf8Count != 0 else { return }
        buffer.writeInteger(tag)
        writeVarint(UInt64(utf8Count), to: &buffer)
        buffer.writeString(value)
    }

    @inline(__always)
    static func writeBytesField(_ tag: UInt8, _ value: [UInt8], to buffer: inout ByteBuffer) {
        guard !value.isEmpty else { return }
        buffer.writeInteger(tag)
        writeVarint(UInt64(value.count), to: &buffer)
        buffer.writeBytes(value)
    }
}
