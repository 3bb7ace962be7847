import SoukProtobuf
import TestContracts
import Testing

@Suite("Well-known types: their JSON forms, presence through wrappers, and binary round trips")
struct WellKnownTypesTests {
    func json<M: ProtoMessage>(_ message: M, _ options: JSONEncodingOptions = JSONEncodingOptions()) throws -> String {
        try message.jsonString(options: options)
    }

    func timestamp(_ text: String) throws -> Google_Protobuf_Timestamp {
        try Google_Protobuf_Timestamp(jsonString: "\"\(text)\"")
    }

    // MARK: Timestamp

    @Test("a Timestamp is written in UTC with Z and 0, 3, 6 or 9 fractional digits",
          arguments: [
              (0, 0, "1970-01-01T00:00:00Z"),
              (1_709_211_909, 120_000_000, "2024-02-29T13:05:09.120Z"),
              (1_709_211_909, 120_500_000, "2024-02-29T13:05:09.120500Z"),
              (1_709_211_909, 1, "2024-02-29T13:05:09.000000001Z"),
              (-1, 999_999_999, "1969-12-31T23:59:59.999999999Z"),
              (-62_135_596_800, 0, "0001-01-01T00:00:00Z"),
              (253_402_300_799, 999_999_999, "9999-12-31T23:59:59.999999999Z"),
              (951_782_400, 0, "2000-02-29T00:00:00Z"),
              (4_107_542_400, 0, "2100-03-01T00:00:00Z"),
          ] as [(Int64, Int32, String)])
    func timestampOutput(seconds: Int64, nanos: Int32, text: String) throws {
        let value = Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos)
        #expect(try json(value) == "\"\(text)\"")
        #expect(try timestamp(text) == value)
    }

    @Test("a Timestamp is read with any offset, and 1 to 9 fractional digits",
          arguments: [
              ("2024-02-29T14:05:09+01:00", 1_709_211_909, 0),
              ("2024-02-29T08:35:09.5-04:30", 1_709_211_909, 500_000_000),
              ("2024-02-29T13:05:09.123456789Z", 1_709_211_909, 123_456_789),
              ("2024-03-01T00:05:09+10:00", 1_709_215_509, 0),
              ("0001-01-01T01:00:00+01:00", -62_135_596_800, 0),
              ("9999-12-31T22:59:59.9-01:00", 253_402_300_799, 900_000_000),
          ] as [(String, Int64, Int32)])
    func timestampInput(text: String, seconds: Int64, nanos: Int32) throws {
        #expect(try timestamp(text) == Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos))
    }

    @Test("a Timestamp that is not RFC 3339, or outside years 1 to 9999, is refused with the reason",
          arguments: [
              ("2024-02-30T00:00:00Z", "2024-02-30 is not a date"),
              ("2023-02-29T00:00:00Z", "2023-02-29 is not a date"),
              ("2024-13-01T00:00:00Z", "is not a date"),
              ("2024-01-01 00:00:00Z", "expected YYYY-MM-DDThh:mm:ss"),
              ("2024-01-01t00:00:00z", "expected YYYY-MM-DDThh:mm:ss"),
              ("2024-01-01T00:00:00", "expected YYYY-MM-DDThh:mm:ss"),
              ("2024-01-01T00:00:60Z", "leap seconds"),
              ("2024-01-01T24:00:00Z", "time of day"),
              ("2024-01-01T00:00:00.Z", "1 to 9 digits"),
              ("2024-01-01T00:00:00.1234567890Z", "1 to 9 digits"),
              ("2024-01-01T00:00:00+0100", "offset such as"),
              ("2024-01-01T00:00:00+24:00", "not a valid hh:mm"),
              ("0000-12-31T23:59:59Z", "outside the range 0001-01-01T00:00:00Z"),
              ("0001-01-01T00:00:00+00:01", "outside the range"),
              ("9999-12-31T23:59:59-00:01", "outside the range"),
              ("10000-01-01T00:00:00Z", "expected YYYY-MM-DDThh:mm:ss"),
              ("", "expected YYYY-MM-DDThh:mm:ss"),
          ])
    func timestampInvalid(text: String, reason: String) throws {
        let error = try #require(throws: ProtoJSONError.self) {
            try WellKnownValues(jsonString: #"{"timestamp": "\#(text)"}"#)
        }
        #expect(error.message.hasPrefix("field timestamp: "), "\(error.message)")
        #expect(error.message.contains(reason), "\(error.message)")
    }

    @Test("a Timestamp is a string: a number is the wrong type")
    func timestampWrongType() throws {
        let error = try #require(throws: ProtoJSONError.self) { try WellKnownValues(jsonString: #"{"timestamp": 0}"#) }
        #expect(error.message == #"field timestamp: expected an RFC 3339 timestamp string such as "2024-02-29T13:05:09Z", found a number 0"#)
    }

    @Test("a Timestamp outside years 1 to 9999, or with invalid nanos, has no JSON form: encoding throws",
          arguments: [(-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 1_000_000_000)] as [(Int64, Int32)])
    func timestampUnwritable(seconds: Int64, nanos: Int32) throws {
        var message = WellKnownValues()
        message.timestamp = Google_Protobuf_Timestamp(seconds: seconds, nanos: nanos)
        let error = try #require(throws: ProtoJSONError.self) { try message.jsonString() }
        #expect(error.kind == .outOfRange)
        #expect(error.message.contains("0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z"))
        // The binary form carries any value.
        #expect(try WellKnownValues(serializedBytes: message.serializedBytes()) == message)
    }

    @Test("milliseconds since 1970 convert both ways, before 1970 too")
    func unixMilliseconds() {
        #expect(Google_Protobuf_Timestamp(unixMilliseconds: 1_500) == Google_Protobuf_Timestamp(seconds: 1, nanos: 500_000_000))
        #expect(Google_Protobuf_Timestamp(unixMilliseconds: -1) == Google_Protobuf_Timestamp(seconds: -1, nanos: 999_000_000))
        #expect(Google_Protobuf_Timestamp(seconds: -1, nanos: 999_000_000).unixMilliseconds == -1)
    }

    // MARK: Duration

    @Test("a Duration is seconds with an s, 0, 3, 6 or 9 fractional digits, the sign in front",
          arguments: [
              (0, 0, "0s"), (1, 500_000_000, "1.500s"), (-1, -500_000_000, "-1.500s"), (0, -250_000_000, "-0.250s"),
              (3600, 1000, "3600.000001s"), (0, 1, "0.000000001s"),
              (315_576_000_000, 999_999_999, "315576000000.999999999s"), (-315_576_000_000, 0, "-315576000000s"),
          ] as [(Int64, Int32, String)])
    func durationOutput(seconds: Int64, nanos: Int32, text: String) throws {
        let value = Google_Protobuf_Duration(seconds: seconds, nanos: nanos)
        #expect(try json(value) == "\"\(text)\"")
        #expect(try Google_Protobuf_Duration(jsonString: "\"\(text)\"") == value)
    }

    @Test("a Duration is read with 1 to 9 fractional digits")
    func durationInput() throws {
        #expect(try Google_Protobuf_Duration(jsonString: #""1.5s""#) == Google_Protobuf_Duration(seconds: 1, nanos: 500_000_000))
        #expect(try Google_Protobuf_Duration(jsonString: #""-0.000000001s""#) == Google_Protobuf_Duration(seconds: 0, nanos: -1))
        #expect(try Google_Protobuf_Duration(jsonString: #""00010s""#) == Google_Protobuf_Duration(seconds: 10))
    }

    @Test("a Duration without its s, with a unit, a plus sign, spaces or past ±315576000000s is refused",
          arguments: ["1", "1m", "+1s", " 1s", "1.s", "1.1234567891s", "--1s", "s", "1e3s", "315576000001s", "1000000000000s", ""])
    func durationInvalid(text: String) throws {
        let error = try #require(throws: ProtoJSONError.self) { try WellKnownValues(jsonString: #"{"duration": "\#(text)"}"#) }
        #expect(error.message.hasPrefix("field duration: "))
    }

    @Test("a Duration whose nanos disagree with its seconds' sign has no JSON form")
    func durationUnwritable() throws {
        #expect(throws: ProtoJSONError.self) { try Google_Protobuf_Duration(seconds: 1, nanos: -1).jsonString() }
        #expect(throws: ProtoJSONError.self) { try Google_Protobuf_Duration(seconds: 315_576_000_001).jsonString() }
    }

    // MARK: FieldMask

    @Test("a FieldMask is one string of lowerCamelCase paths joined by commas")
    func fieldMask() throws {
        let mask = Google_Protobuf_FieldMask(paths: ["full_name", "address.post_code", "id"])
        #expect(try json(mask) == #""fullName,address.postCode,id""#)
        #expect(try Google_Protobuf_FieldMask(jsonString: #""fullName,address.postCode,id""#) == mask)
        #expect(try Google_Protobuf_FieldMask(jsonString: #""""#) == Google_Protobuf_FieldMask())
        #expect(try json(Google_Protobuf_FieldMask()) == #""""#)
    }

    @Test("a FieldMask path that would not read back the same has no JSON form",
          arguments: ["fullName", "full__name", "full_", "full_1"])
    func fieldMaskUnwritable(path: String) throws {
        let error = try #require(throws: ProtoJSONError.self) { try Google_Protobuf_FieldMask(paths: [path]).jsonString() }
        #expect(error.message.contains(path))
    }

    @Test("a FieldMask in JSON with `_`, an empty path or spaces is refused",
          arguments: ["full_name", "fullName,,id", "fullName,", "full Name", ","])
    func fieldMaskInvalid(text: String) throws {
        let error = try #require(throws: ProtoJSONError.self) { try WellKnownValues(jsonString: #"{"fieldMask": "\#(text)"}"#) }
        #expect(error.message.hasPrefix("field fieldMask: "))
        #expect(error.message.contains("lowerCamelCase paths joined by commas"))
    }

    // MARK: Wrappers and Empty

    @Test("a singular wrapper is an optional: absent is nil, and a zero value is present")
    func wrapperPresence() throws {
        var message = WellKnownValues()
        #expect(try json(message) == "{}")
        message.int64Value = 0
        message.stringValue = ""
        message.boolValue = false
        #expect(try json(message) == #"{"int64Value":"0","boolValue":false,"stringValue":""}"#)
        let decoded = try WellKnownValues(serializedBytes: message.serializedBytes())
        #expect(decoded.int64Value == 0 && decoded.stringValue == "" && decoded.boolValue == false)
        #expect(decoded.int32Value == nil && decoded.bytesValue == nil)
        #expect(try WellKnownValues(jsonString: json(message)) == message)
    }

    @Test("each wrapper is its bare value in JSON, written as the wrapped scalar is; null is absent")
    func wrapperValues() throws {
        let text = #"{"doubleValue":"NaN","floatValue":1.5,"int64Value":"-9223372036854775808","uint64Value":"18446744073709551615","int32Value":-7,"uint32Value":4294967295,"boolValue":true,"stringValue":"héllo","bytesValue":"AP8="}"#
        let message = try WellKnownValues(jsonString: text)
        #expect(message.doubleValue?.isNaN == true)
        #expect(message.int64Value == .min && message.uint64Value == .max && message.bytesValue == [0, 255])
        #expect(try json(message) == text)
        let nulls = try WellKnownValues(jsonString: #"{"int64Value": null, "timestamp": null, "stringValue": null}"#)
        #expect(nulls == WellKnownValues())
        #expect(try WellKnownValues(jsonString: #"{"int64Value": "12"}"#).int64Value == 12)
        #expect(try WellKnownValues(jsonString: #"{"int64Value": 12}"#).int64Value == 12)
        let wrongType = try #require(throws: ProtoJSONError.self) { try WellKnownValues(jsonString: #"{"boolValue": "true"}"#) }
        #expect(wrongType.message == #"field boolValue: expected true or false, found a string "true""#)
    }

    @Test("wrappers in lists, maps and oneofs are messages in Swift and bare values in JSON")
    func wrappersElsewhere() throws {
        var message = WellKnownValues()
        message.stringValues = [Google_Protobuf_StringValue(value: "a"), Google_Protobuf_StringValue(value: "")]
        message.durations = ["short": Google_Protobuf_Duration(seconds: 1)]
        message.timestamps = [Google_Protobuf_Timestamp(seconds: 0)]
        message.choice = .choiceInt64(Google_Protobuf_Int64Value(value: 0))
        let text = #"{"timestamps":["1970-01-01T00:00:00Z"],"stringValues":["a",""],"durations":{"short":"1s"},"choiceInt64":"0"}"#
        #expect(try json(message) == text)
        #expect(try WellKnownValues(jsonString: text) == message)
        #expect(try WellKnownValues(serializedBytes: message.serializedBytes()) == message)
    }

    @Test("Empty is {} and refuses members")
    func empty() throws {
        var message = WellKnownValues()
        message.empty = Google_Protobuf_Empty()
        #expect(try json(message) == #"{"empty":{}}"#)
        #expect(try WellKnownValues(jsonString: #"{"empty":{}}"#) == message)
        #expect(throws: ProtoJSONError.self) { try WellKnownValues(jsonString: #"{"empty":{"x":1}}"#) }
    }

    @Test("every well-known type survives a binary round trip, and protobuf-c reads what it wrote")
    func binaryRoundTrip() throws {
        var message = WellKnownValues()
        message.timestamp = Google_Protobuf_Timestamp(seconds: -62_135_596_800, nanos: 1)
        message.duration = Google_Protobuf_Duration(seconds: -5, nanos: -5)
        message.fieldMask = Google_Protobuf_FieldMask(paths: ["a.b_c", "d"])
        message.empty = Google_Protobuf_Empty()
        message.doubleValue = -1.5
        message.floatValue = .infinity
        message.int64Value = .max
        message.uint64Value = 0
        message.int32Value = .min
        message.uint32Value = .max
        message.boolValue = true
        message.stringValue = "李"
        message.bytesValue = []
        message.choice = .choiceTimestamp(Google_Protobuf_Timestamp(seconds: 1))
        let decoded = try WellKnownValues(serializedBytes: message.serializedBytes())
        #expect(decoded == message)
    }

    // MARK: Options

    @Test("emitUnpopulated writes every field: zeros, empty lists and maps, the enum's zero name, null for absent messages")
    func emitUnpopulated() throws {
        let text = try json(EchoPayload(), JSONEncodingOptions(emitUnpopulated: true))
        #expect(text == #"{"message":"","itemNumber":"0"}"#)
        let request = try json(UpdateEchoRequest(), JSONEncodingOptions(emitUnpopulated: true))
        #expect(request == #"{"id":"","payload":null,"updateMask":null}"#)
        var everything = Everything()
        everything.scalars = ScalarValues()
        let full = try JSONParser.parse(json(everything, JSONEncodingOptions(emitUnpopulated: true)))
        #expect(full["signedEnum"] == .string("SIGNED_ENUM_UNSPECIFIED"))
        #expect(full["importedList"] == .array([]))
        #expect(full["wellKnown"] == .null)
        #expect(full["scalars"]?["int64Value"] == .string("0"))
        #expect(full["scalars"]?["boolValue"] == .bool(false))
        // Read back, the zeros and nulls are the same message.
        #expect(try Everything(jsonString: json(everything, JSONEncodingOptions(emitUnpopulated: true))) == everything)
        // Oneofs stay out unless set; wrappers are null when absent.
        let wellKnown = try JSONParser.parse(json(WellKnownValues(), JSONEncodingOptions(emitUnpopulated: true)))
        #expect(wellKnown["choiceInt64"] == nil && wellKnown["choiceTimestamp"] == nil)
        #expect(wellKnown["int64Value"] == .null && wellKnown["timestamps"] == .array([]) && wellKnown["durations"] == .object(JSONObject(members: [])))
    }

    @Test("useProtoFieldNames writes the .proto names; both are read either way")
    func protoFieldNames() throws {
        var payload = EchoPayload()
        payload.itemNumber = 3
        let text = try json(payload, JSONEncodingOptions(useProtoFieldNames: true))
        #expect(text == #"{"item_number":"3"}"#)
        #expect(try EchoPayload(jsonString: text) == payload)
        #expect(try json(payload) == #"{"itemNumber":"3"}"#)
    }
}

@Suite("Unknown fields survive a binary round trip")
struct UnknownFieldsTests {
    func profileV2() -> ProfileV2 {
        var v2 = ProfileV2()
        v2.name = "Ada"
        v2.points = -42
        v2.tags = ["a", "", "李"]
        v2.friend = ProfileV1()
        v2.friend?.name = "Grace"
        v2.code = 0xDEAD_BEEF
        v2.serial = .max
        v2.level = .gold
        return v2
    }

    @Test("a v2 message decoded by v1 types and re-encoded is the v2 message, byte for byte")
    func relayKeepsUnknownFields() throws {
        let v2 = profileV2()
        let bytes = try v2.serializedBytes()
        let v1 = try ProfileV1(serializedBytes: bytes)
        #expect(v1.name == "Ada")
        #expect(v1.unknownFields.fields.map(\.number) == [2, 3, 3, 3, 4, 5, 6, 7])
        #expect(v1.unknownFields.fields.map(\.wireType) == [0, 2, 2, 2, 2, 5, 1, 0])
        let relayed = try v1.serializedBytes()
        #expect(relayed == bytes)
        #expect(try ProfileV2(serializedBytes: relayed) == v2)
    }

    @Test("a v1 change to a known field keeps the unknown ones")
    func editKeepsUnknownFields() throws {
        var v1 = try ProfileV1(serializedBytes: profileV2().serializedBytes())
        v1.name = "Augusta"
        var expected = profileV2()
        expected.name = "Augusta"
        #expect(try ProfileV2(serializedBytes: v1.serializedBytes()) == expected)
    }

    @Test("unknown fields count in equality, and JSON leaves them out")
    func equalityAndJSON() throws {
        let relayed = try ProfileV1(serializedBytes: profileV2().serializedBytes())
        var plain = ProfileV1()
        plain.name = "Ada"
        #expect(relayed != plain)
        #expect(try relayed.jsonString() == #"{"name":"Ada"}"#)
        #expect(try ProfileV1(jsonString: relayed.jsonString()) == plain)
    }

    @Test("unknown fields of nested messages survive too")
    func nested() throws {
        var outer = ProfileV2()
        outer.friend = ProfileV1()
        outer.friend?.unknownFields = try ProfileV1(serializedBytes: profileV2().serializedBytes()).unknownFields
        let decoded = try ProfileV2(serializedBytes: outer.serializedBytes())
        #expect(decoded == outer)
        #expect(decoded.friend?.unknownFields.fields.count == 8)
    }
}
