import SoukProtobuf
import TestContracts
import Testing

@Suite("The proto3 JSON mapping of generated messages")
struct JSONMappingTests {
    func roundTrip<M: ProtoMessage>(_ message: M) throws -> M {
        try M(jsonString: message.jsonString())
    }

    func error<M: ProtoMessage>(decoding json: String, as _: M.Type) throws -> ProtoJSONError {
        try #require(throws: ProtoJSONError.self) { try M(jsonString: json) }
    }

    @Test("a message with every construct set survives a JSON round trip")
    func everything() throws {
        #expect(try roundTrip(Samples.everything()) == Samples.everything())
        #expect(try roundTrip(Samples.scalarsAtMinimum()) == Samples.scalarsAtMinimum())
        #expect(try roundTrip(Samples.repeatedScalars(count: 2_000)) == Samples.repeatedScalars(count: 2_000))
    }

    @Test("an empty message is {} and fields at their default are left out")
    func defaultsAreOmitted() throws {
        #expect(try EmptyMessage().jsonString() == "{}")
        #expect(try Everything().jsonString() == "{}")
        #expect(try Everything(jsonString: "{}") == Everything())
    }

    @Test("names are lowerCamelCase on output and both spellings are accepted on input")
    func fieldNames() throws {
        var names = NameMangling()
        names.snakeCaseName = "s"
        names.ipv4Address = "127.0.0.1"
        #expect(try names.jsonString() == #"{"snakeCaseName":"s","ipv4Address":"127.0.0.1"}"#)
        let fromProtoNames = try NameMangling(jsonString: #"{"snake_case_name":"s","ipv4_address":"127.0.0.1"}"#)
        #expect(fromProtoNames == names)
    }

    @Test("64-bit integers are strings on output and strings or numbers on input")
    func int64AsStrings() throws {
        var s = ScalarValues()
        s.int64Value = .min
        s.uint64Value = .max
        s.int32Value = -5
        #expect(try s.jsonString() == #"{"int32Value":-5,"int64Value":"-9223372036854775808","uint64Value":"18446744073709551615"}"#)
        let fromNumbers = try ScalarValues(jsonString: #"{"int32Value":"-5","int64Value":-9223372036854775808,"uint64Value":18446744073709551615}"#)
        #expect(fromNumbers == s)
    }

    @Test("enums are names on output; names and numbers are accepted on input")
    func enums() throws {
        var e = Everything()
        e.signedEnum = .negative
        #expect(try e.jsonString() == #"{"signedEnum":"SIGNED_ENUM_NEGATIVE"}"#)
        #expect(try Everything(jsonString: #"{"signedEnum":-1}"#).signedEnum == .negative)
        e.signedEnum = .unrecognized(77)
        #expect(try e.jsonString() == #"{"signedEnum":77}"#)
        #expect(try roundTrip(e) == e)
        let unknownName = try error(decoding: #"{"signedEnum":"SIGNED_ENUM_NOPE"}"#, as: Everything.self)
        #expect(unknownName.message.contains("SIGNED_ENUM_NOPE"))
        #expect(unknownName.message.contains("souk.test.v1.SignedEnum"))
    }

    @Test("bytes are base64, standard or URL-safe, on input")
    func bytes() throws {
        var s = ScalarValues()
        s.bytesValue = [0xfb, 0xff, 0x00]
        #expect(try s.jsonString() == #"{"bytesValue":"+/8A"}"#)
        #expect(try ScalarValues(jsonString: #"{"bytesValue":"-_8A"}"#) == s)
    }

    @Test("special floating-point values are the strings NaN and Infinity")
    func specialFloats() throws {
        var s = ScalarValues()
        s.doubleValue = .infinity
        s.floatValue = -.infinity
        #expect(try s.jsonString() == #"{"doubleValue":"Infinity","floatValue":"-Infinity"}"#)
        #expect(try roundTrip(s) == s)
    }

    @Test("null means the default value")
    func nullIsDefault() throws {
        let decoded = try Everything(jsonString: #"{"scalars":null,"signedEnum":null,"importedList":null,"maps":{"stringToInt32":null}}"#)
        var expected = Everything()
        expected.maps = MapValues()
        #expect(decoded == expected)
    }

    @Test("map keys of every key type are JSON strings")
    func mapKeys() throws {
        var m = MapValues()
        m.int64ToString = [-3: "x"]
        m.boolToString = [true: "t"]
        #expect(try m.jsonString() == #"{"int64ToString":{"-3":"x"},"boolToString":{"true":"t"}}"#)
        #expect(try roundTrip(Samples.maps()) == Samples.maps())
        let badKey = try error(decoding: #"{"int32ToString":{"seven":"x"}}"#, as: MapValues.self)
        #expect(badKey.message.contains("int32ToString"))
    }

    @Test("an unknown field is rejected with its name")
    func unknownField() throws {
        let top = try error(decoding: #"{"int32Value":1,"int33Value":2}"#, as: ScalarValues.self)
        #expect(top.kind == .unknownField)
        #expect(top.message.contains("int33Value"))
        let nested = try error(decoding: #"{"nesting":{"level1":{"level3":{}}}}"#, as: Everything.self)
        #expect(nested.message.contains("level3"))
        #expect(nested.message.contains("nesting.level1"))
    }

    @Test("a value of the wrong type is rejected with the field's path")
    func wrongType() throws {
        let element = try error(decoding: #"{"repeatedScalars":{"int32Values":[1,"x"]}}"#, as: Everything.self)
        #expect(element.message.contains("repeatedScalars.int32Values[1]"))
        let scalar = try error(decoding: #"{"boolValue":"yes"}"#, as: ScalarValues.self)
        #expect(scalar.kind == .wrongType)
        #expect(scalar.message.contains("boolValue"))
        let object = try error(decoding: #"{"scalars":[1]}"#, as: Everything.self)
        #expect(object.message.contains("scalars"))
        let outOfRange = try error(decoding: #"{"int32Value":2147483648}"#, as: ScalarValues.self)
        #expect(outOfRange.kind == .outOfRange)
        #expect(try self.error(decoding: "[]", as: ScalarValues.self).kind == .wrongType)
    }

    @Test("two members of one oneof are rejected")
    func duplicateOneof() throws {
        let error = try error(decoding: #"{"choiceInt32":1,"choiceString":"x"}"#, as: OneofValues.self)
        #expect(error.message.contains("choice"))
    }

    @Test("a oneof member at its default value is written, so presence survives")
    func oneofDefaults() throws {
        var o = OneofValues()
        o.choice = .choiceString("")
        #expect(try o.jsonString() == #"{"choiceString":""}"#)
        #expect(try roundTrip(o) == o)
    }

    @Test("malformed and hostile JSON throws a typed error", arguments: [
        "", "{", #"{"int32Value":}"#, #"{"int32Value":1,}"#, "nul", #"{"stringValue":"\ud800"}"#,
        String(repeating: "[", count: 100_000), #"{"a":1} trailing"#,
    ])
    func malformed(json: String) throws {
        #expect(throws: ProtoJSONError.self) { try Everything(jsonString: json) }
    }

    @Test("a string field or map key holding U+0000 is invalid JSON input, naming the field")
    func nulFromJSON() throws {
        let field = try error(decoding: #"{"stringValue":"a\u0000b"}"#, as: ScalarValues.self)
        #expect(field.message.contains("stringValue"))
        #expect(field.message.contains("U+0000"))
        let key = try error(decoding: #"{"stringToInt32":{"a\u0000":1}}"#, as: MapValues.self)
        #expect(key.message.contains("stringToInt32"))
    }
}
