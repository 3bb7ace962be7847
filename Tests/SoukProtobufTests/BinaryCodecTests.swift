import SoukProtobuf
import TestContracts
import Testing

@Suite("The protobuf binary codec over protobuf-c")
struct BinaryCodecTests {
    func roundTrip<M: ProtoMessage>(_ message: M) throws -> M {
        try M(serializedBytes: try message.serializedBytes())
    }

    @Test("an empty message encodes to zero bytes and decodes to defaults")
    func emptyMessage() throws {
        #expect(try EmptyMessage().serializedBytes().isEmpty)
        #expect(try Everything(serializedBytes: []) == Everything())
        #expect(try ScalarValues().serializedBytes().isEmpty)
    }

    @Test("every scalar type survives a round trip at its maximum and its minimum")
    func scalarExtremes() throws {
        #expect(try roundTrip(Samples.scalarsAtMaximum()) == Samples.scalarsAtMaximum())
        #expect(try roundTrip(Samples.scalarsAtMinimum()) == Samples.scalarsAtMinimum())
    }

    @Test("special floating-point values survive a round trip")
    func specialFloats() throws {
        var s = ScalarValues()
        for value in [Double.infinity, -.infinity, .leastNonzeroMagnitude, -0.0] {
            s.doubleValue = value
            s.floatValue = Float(value)
            let back = try roundTrip(s)
            #expect(back.doubleValue == value)
        }
        s.doubleValue = .nan
        #expect(try roundTrip(s).doubleValue.isNaN)
    }

    @Test("unicode text and bytes holding NULs survive a round trip")
    func unicodeAndBinary() throws {
        var s = ScalarValues()
        s.stringValue = Samples.unicode
        s.bytesValue = Samples.bytesWithNULs
        let back = try roundTrip(s)
        #expect(back.stringValue == Samples.unicode)
        #expect(back.bytesValue == Samples.bytesWithNULs)
    }

    @Test("a message with every construct set survives a round trip")
    func everything() throws {
        #expect(try roundTrip(Samples.everything()) == Samples.everything())
    }

    @Test("a oneof member set to its default value is still present after a round trip")
    func oneofDefaultsArePresent() throws {
        for choice: OneofValues.Choice in [.choiceInt32(0), .choiceBool(false), .choiceString(""), .choiceBytes([]),
                                           .choiceEnum(.unspecified), .choiceEmpty(EmptyMessage())] {
            var o = OneofValues()
            o.choice = choice
            #expect(try roundTrip(o).choice == choice)
        }
    }

    @Test("an enum number the schema does not know survives a round trip as unrecognized")
    func unknownEnumValues() throws {
        var e = Everything()
        e.signedEnum = .init(rawValue: 12345)
        e.importedEnum = .init(rawValue: -77)
        let back = try roundTrip(e)
        #expect(back.signedEnum == .unrecognized(12345))
        #expect(back.importedEnum == .unrecognized(-77))
        var r = RepeatedScalarValues()
        r.enumValues = [.unrecognized(99), .negative]
        #expect(try roundTrip(r).enumValues == [.unrecognized(99), .negative])
    }

    @Test("large repeated fields survive a round trip")
    func largeRepeated() throws {
        let big = Samples.repeatedScalars(count: 20_000)
        #expect(try roundTrip(big) == big)
    }

    @Test("a string holding U+0000 is refused on encode, naming the field")
    func nulInStringOnEncode() throws {
        var s = ScalarValues()
        s.stringValue = "before\u{0}after"
        let error = try #require(throws: ProtoBinaryError.self) { try s.serializedBytes() }
        #expect(error.kind == .stringContainsNUL)
        #expect(error.message.contains("string_value"))
        var r = RepeatedScalarValues()
        r.stringValues = ["fine", "\u{0}"]
        #expect(throws: ProtoBinaryError.self) { try r.serializedBytes() }
        var m = MapValues()
        m.stringToString = ["key\u{0}": "value"]
        #expect(throws: ProtoBinaryError.self) { try m.serializedBytes() }
    }

    @Test("a string holding U+0000 on the wire is invalid input, not a truncated string")
    func nulInStringOnDecode() throws {
        // Field 14 (string_value), length 3, "a\0b".
        let bytes: [UInt8] = [0x72, 3, 0x61, 0x00, 0x62]
        let error = try #require(throws: ProtoBinaryError.self) { try ScalarValues(serializedBytes: bytes) }
        #expect(error.kind == .stringContainsNUL)
        // A lone NUL as the whole string, inside a nested message.
        let nested: [UInt8] = [0x0a, 3, 0x72, 1, 0x00]
        #expect(throws: ProtoBinaryError.self) { try Everything(serializedBytes: nested) }
    }

    @Test("a string that is not UTF-8 is invalid input")
    func invalidUTF8() throws {
        let bytes: [UInt8] = [0x72, 2, 0xC3, 0x28]
        let error = try #require(throws: ProtoBinaryError.self) { try ScalarValues(serializedBytes: bytes) }
        #expect(error.kind == .invalidUTF8)
    }

    @Test("malformed input throws a typed error", arguments: [
        ("truncated varint", [0x08, 0x80] as [UInt8]),
        ("truncated fixed64", [0x09, 1, 2, 3]),
        ("wrong wire type for an int32", [0x1d, 1, 2, 3, 4]),
        ("overlong varint", [0x18] + [UInt8](repeating: 0xff, count: 11) + [0x01]),
        ("length past the end", [0x72, 10, 0x61]),
        ("length prefix of 2^32-1", [0x72, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x61]),
        ("field number zero", [0x00, 0x01]),
        ("end-group without start", [0x0c]),
    ])
    func malformed(name: String, bytes: [UInt8]) throws {
        let error = try #require(throws: ProtoBinaryError.self) { try ScalarValues(serializedBytes: bytes) }
        #expect(error.kind == .malformed)
        #expect(error.message.contains("souk.test.v1.ScalarValues"))
    }

    @Test("every truncation of a valid encoding either decodes or throws, never crashes")
    func everyTruncation() throws {
        let bytes = try Samples.everything().serializedBytes()
        for length in 0..<bytes.count {
            _ = try? Everything(serializedBytes: Array(bytes[0..<length]))
        }
    }

    @Test("unknown fields are skipped")
    func unknownFields() throws {
        // Field 9999 (varint) followed by int32_value = 5.
        let bytes: [UInt8] = [0xf8, 0xf0, 0x04, 0x01, 0x18, 0x05]
        #expect(try ScalarValues(serializedBytes: bytes).int32Value == 5)
    }

    @Test("a message encodes straight into memory the caller provides")
    func packIntoCallerBuffer() throws {
        let message = Samples.everything()
        let expected = try message.serializedBytes()
        let written = try message.withPacker { size, pack in
            withUnsafeTemporaryAllocation(byteCount: size, alignment: 1) { buffer in
                let count = pack(buffer.baseAddress!)
                return Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
        }
        #expect(written == expected)
    }
}
