import Testing

@testable import SoukProtobuf

// MARK: - Helpers

private func parseError(_ text: String, maxDepth: Int = 64, maxBytes: Int = 4 << 20) -> ProtoJSONError? {
  do {
    _ = try JSONParser.parse(text, maxDepth: maxDepth, maxBytes: maxBytes)
    return nil
  } catch {
    return error
  }
}

private func parseError(bytes: [UInt8]) -> ProtoJSONError? {
  do {
    _ = try JSONParser.parse(bytes)
    return nil
  } catch {
    return error
  }
}

private func decodeError<T>(_ body: () throws(ProtoJSONError) -> T) -> ProtoJSONError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}

private func written(_ body: (inout JSONWriter) -> Void) -> String {
  var writer = JSONWriter()
  body(&writer)
  return writer.string
}

private let quantityPath = JSONPath.root.appending(field: "items").appending(index: 2).appending(field: "quantity")

/// Deterministic, so a failure found by the fuzz tests reproduces.
private struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

// MARK: - JSONPath

@Suite("JSONPath")
struct JSONPathTests {
  @Test("the root renders as <root>")
  func root() {
    #expect(JSONPath.root.description == "<root>")
  }

  @Test("fields join with dots and indexes use brackets")
  func fieldsAndIndexes() {
    let path = JSONPath.root.appending(field: "items").appending(index: 3)
      .appending(field: "unitPrice").appending(field: "amountMinor")
    #expect(path.description == "items[3].unitPrice.amountMinor")
  }

  @Test("map keys render as quoted, escaped subscripts")
  func mapKeys() {
    let path = JSONPath.root.appending(field: "labels").appending(mapKey: "a\"b")
    #expect(path.description == #"labels["a\"b"]"#)
  }

  @Test("an index on the root renders without a leading name")
  func indexOnRoot() {
    #expect(JSONPath.root.appending(index: 0).appending(field: "id").description == "[0].id")
  }

  @Test("paths built separately are equal and hash alike")
  func equality() {
    let a = JSONPath.root.appending(field: "a").appending(index: 1).appending(mapKey: "k")
    let b = JSONPath.root.appending(field: "a").appending(index: 1).appending(mapKey: "k")
    #expect(a == b)
    #expect(a.hashValue == b.hashValue)
    #expect(Set([a, b]).count == 1)
    #expect(a != JSONPath.root.appending(field: "a").appending(index: 2).appending(mapKey: "k"))
    #expect(a != JSONPath.root.appending(field: "a").appending(index: 1))
    #expect(JSONPath.root.appending(field: "x") != JSONPath.root.appending(mapKey: "x"))
    #expect(JSONPath.root == JSONPath.root)
  }

  @Test("branching from one parent leaves the parent unchanged")
  func branching() {
    let parent = JSONPath.root.appending(field: "items").appending(index: 0)
    let left = parent.appending(field: "sku")
    let right = parent.appending(field: "price")
    #expect(parent.description == "items[0]")
    #expect(left.description == "items[0].sku")
    #expect(right.description == "items[0].price")
  }
}

// MARK: - Parsing valid documents

@Suite("Parsing valid JSON")
struct JSONParsingTests {
  @Test("scalars parse to the matching cases")
  func scalars() throws {
    #expect(try JSONParser.parse("null") == .null)
    #expect(try JSONParser.parse("true") == .bool(true))
    #expect(try JSONParser.parse("false") == .bool(false))
    #expect(try JSONParser.parse("\"hi\"") == .string("hi"))
    #expect(try JSONParser.parse(" \t\r\n42 \n") == .number("42"))
  }

  @Test("numbers keep their literal text")
  func numberLiterals() throws {
    for literal in ["0", "-0", "1.50", "1E+2", "-12.5e-3", "123456789012345678901234567890", "0.0"] {
      #expect(try JSONParser.parse(literal) == .number(literal))
    }
  }

  @Test("objects keep members in document order")
  func objectOrder() throws {
    let value = try JSONParser.parse(#"{"b":1,"a":[true,null],"c":{"d":"e"}}"#)
    let expected = JSONValue.object(
      JSONObject(members: [
        (key: "b", value: .number("1")),
        (key: "a", value: .array([.bool(true), .null])),
        (key: "c", value: .object(JSONObject(members: [(key: "d", value: .string("e"))]))),
      ]))
    #expect(value == expected)
    guard case .object(let object) = value else { Issue.record("not an object"); return }
    #expect(object.members.map(\.key) == ["b", "a", "c"])
    #expect(object["c"] != nil)
    #expect(object["zzz"] == nil)
  }

  @Test("object equality is order-sensitive and compares values")
  func objectEquality() {
    let a = JSONObject(members: [(key: "x", value: .number("1")), (key: "y", value: .null)])
    let b = JSONObject(members: [(key: "y", value: .null), (key: "x", value: .number("1"))])
    let c = JSONObject(members: [(key: "x", value: .number("2")), (key: "y", value: .null)])
    #expect(a == a)
    #expect(a != b)
    #expect(a != c)
    #expect(a != JSONObject(members: []))
  }

  @Test("empty containers and whitespace everywhere parse")
  func emptiesAndWhitespace() throws {
    #expect(try JSONParser.parse(" [ ] ") == .array([]))
    #expect(try JSONParser.parse(" { } ") == .object(JSONObject(members: [])))
    #expect(
      try JSONParser.parse("{ \"a\" : [ 1 , 2 ] , \"b\" : { } }")
        == .object(
          JSONObject(members: [
            (key: "a", value: .array([.number("1"), .number("2")])),
            (key: "b", value: .object(JSONObject(members: []))),
          ])))
  }

  @Test("every simple escape decodes")
  func simpleEscapes() throws {
    #expect(try JSONParser.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{c}\n\r\t"))
    #expect(try JSONParser.parse(#""a\u0000b""#) == .string("a\u{0}b"))
    #expect(try JSONParser.parse(#""\u00e9\u00E9""#) == .string("éé"))
    #expect(try JSONParser.parse(#""\u20AC""#) == .string("€"))
  }

  @Test("an escape after non-ASCII text keeps the text")
  func escapeAfterNonASCII() throws {
    #expect(try JSONParser.parse(#""héllo\n wörld""#) == .string("héllo\n wörld"))
  }

  @Test("a surrogate pair escape decodes to one scalar: \\ud83d\\ude00 is 😀")
  func surrogatePair() throws {
    #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
    #expect(try JSONParser.parse(#""x\uD83D\uDE00y""#) == .string("x😀y"))
  }

  @Test("raw multi-byte UTF-8 in strings is accepted")
  func rawUTF8() throws {
    #expect(try JSONParser.parse("\"héllo 😀 日本 \u{2028}\"") == .string("héllo 😀 日本 \u{2028}"))
  }

  @Test("the byte and text entry points agree, including for non-contiguous collections")
  func entryPoints() throws {
    let text = #"{"a":[1,"two",{"three":3.0}]}"#
    let fromText = try JSONParser.parse(text)
    #expect(try JSONParser.parse(Array(text.utf8)) == fromText)
    #expect(try JSONParser.parse(text.utf8) == fromText)
    #expect(try JSONParser.parse(text.utf8.lazy.map { $0 }) == fromText)
    #expect(try JSONParser.parse(Array(text.utf8)[...]) == fromText)
  }

  @Test("large documents within the limit parse")
  func largeDocument() throws {
    let count = 100_000
    let text = "[" + (0..<count).map { "{\"id\":\($0),\"name\":\"item \($0)\"}" }.joined(separator: ",") + "]"
    guard case .array(let elements) = try JSONParser.parse(text) else { Issue.record("not an array"); return }
    #expect(elements.count == count)
    #expect(elements.last == .object(JSONObject(members: [(key: "id", value: .number("99999")), (key: "name", value: .string("item 99999"))])))

    let longString = String(repeating: "abcdefghé", count: 100_000)
    #expect(try JSONParser.parse("\"" + longString + "\"") == .string(longString))
  }

  @Test("objects with many keys parse and keep every member")
  func manyKeys() throws {
    let text = "{" + (0..<200).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
    guard case .object(let object) = try JSONParser.parse(text) else { Issue.record("not an object"); return }
    #expect(object.members.count == 200)
    #expect(object.members[150].key == "k150")
  }
}

// MARK: - Syntax errors

@Suite("Syntax errors")
struct JSONSyntaxErrorTests {
  @Test(
    "each malformed document names the byte offset and what was expected",
    arguments: [
      ("", "syntax error at byte 0: expected a JSON value, found end of input"),
      ("   ", "syntax error at byte 3: expected a JSON value, found end of input"),
      (#"{"a":1 "b":2}"#, #"syntax error at byte 7: expected ',' or '}', found '"'"#),
      (#"{"a":1"#, "syntax error at byte 6: expected ',' or '}', found end of input"),
      ("[1 2]", "syntax error at byte 3: expected ',' or ']', found '2'"),
      ("[1", "syntax error at byte 2: expected ',' or ']', found end of input"),
      ("[1,]", "syntax error at byte 3: expected a JSON value, found ']'"),
      ("[,1]", "syntax error at byte 1: expected a JSON value, found ','"),
      (#"{"a":1,}"#, "syntax error at byte 7: expected a string key, found '}'"),
      ("{a:1}", "syntax error at byte 1: expected a string key or '}', found 'a'"),
      ("{", "syntax error at byte 1: expected a string key or '}', found end of input"),
      (#"{"a" 1}"#, "syntax error at byte 5: expected ':' after object key, found '1'"),
      (#"{"a":}"#, "syntax error at byte 5: expected a JSON value, found '}'"),
      (#""abc"#, "syntax error at byte 0: unterminated string"),
      (#"["abc\"#, "syntax error at byte 1: unterminated string"),
      (#"["ab\"]"#, "syntax error at byte 1: unterminated string"),
      ("tru", "syntax error at byte 0: invalid literal, expected true"),
      ("[nul]", "syntax error at byte 1: invalid literal, expected null"),
      ("falsy", "syntax error at byte 0: invalid literal, expected false"),
      ("True", "syntax error at byte 0: expected a JSON value, found 'T'"),
      ("NaN", "syntax error at byte 0: expected a JSON value, found 'N'"),
      ("01", "syntax error at byte 0: numbers must not have leading zeros"),
      ("[-01]", "syntax error at byte 1: numbers must not have leading zeros"),
      ("-", "syntax error at byte 1: expected a digit after '-', found end of input"),
      ("-a", "syntax error at byte 1: expected a digit after '-', found 'a'"),
      ("1.", "syntax error at byte 2: expected a digit after '.', found end of input"),
      ("1.e5", "syntax error at byte 2: expected a digit after '.', found 'e'"),
      ("1e", "syntax error at byte 2: expected a digit in the exponent, found end of input"),
      ("1e+", "syntax error at byte 3: expected a digit in the exponent, found end of input"),
      ("+1", "syntax error at byte 0: expected a JSON value, found '+'"),
      (".5", "syntax error at byte 0: expected a JSON value, found '.'"),
      ("1 2", "syntax error at byte 2: unexpected '2' after the end of the JSON value"),
      ("{} x", "syntax error at byte 3: unexpected 'x' after the end of the JSON value"),
      ("[1,2,]", "syntax error at byte 5: expected a JSON value, found ']'"),
      ("'a'", "syntax error at byte 0: expected a JSON value, found '''"),
      ("/* c */ 1", "syntax error at byte 0: expected a JSON value, found '/'"),
      (#""a\x""#, #"syntax error at byte 2: invalid escape sequence \x"#),
      (#""\u12G4""#, #"syntax error at byte 1: \u escape needs four hex digits"#),
      (#""\u12""#, #"syntax error at byte 1: \u escape needs four hex digits"#),
      (#""\u"#, #"syntax error at byte 1: \u escape needs four hex digits"#),
      ("\"a\nb\"", "syntax error at byte 2: control character 0xA must be escaped inside a string"),
      ("\"\t\"", "syntax error at byte 1: control character 0x9 must be escaped inside a string"),
      ("\"\\n\u{1}\"", "syntax error at byte 3: control character 0x1 must be escaped inside a string"),
      ("\u{FEFF}1", "syntax error at byte 0: expected a JSON value, found byte 0xEF"),
      ("[1]\u{0}", "syntax error at byte 3: unexpected byte 0x0 after the end of the JSON value"),
    ])
  func syntaxError(input: String, message: String) {
    let error = parseError(input)
    #expect(error?.kind == .syntax)
    #expect(error?.path == .root)
    #expect(error?.message == message)
    #expect(error?.description == message)
  }

  @Test("non-ASCII bytes outside strings are syntax errors")
  func nonASCIIOutsideStrings() {
    #expect(parseError("[é]")?.message == "syntax error at byte 1: expected a JSON value, found byte 0xC3")
  }

  @Test("random bytes and mutated documents never crash the parser")
  func fuzz() {
    var rng = SplitMix64(state: 42)
    let seed = Array(#"{"a":[1,-2.5e3,"x\u00e9\ud83d\ude00",true,false,null,{"b":{}}],"c":"\n"}"#.utf8)
    let alphabet = Array(#"{}[],:"\\/-+.0123456789eEtrufalsnxu "#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xED, 0xF0, 0xFF]
    for round in 0..<5_000 {
      var input: [UInt8]
      if round % 2 == 0 {
        input = seed
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
          let position = Int.random(in: 0..<input.count, using: &rng)
          switch Int.random(in: 0..<3, using: &rng) {
          case 0: input[position] = alphabet.randomElement(using: &rng)!
          case 1: input.remove(at: position)
          default: input.insert(alphabet.randomElement(using: &rng)!, at: position)
          }
          if input.isEmpty { break }
        }
      } else {
        input = (0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
      }
      // Any outcome is fine as long as it is a value or a ProtoJSONError.
      _ = try? JSONParser.parse(input, maxDepth: 8)
    }
  }
}

// MARK: - Limits

@Suite("Depth and size limits")
struct JSONLimitTests {
  @Test("64 nested containers parse by default and 65 are too deep")
  func defaultDepth() throws {
    let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
    _ = try JSONParser.parse(ok)
    let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
    let error = parseError(tooDeep)
    #expect(error?.kind == .tooDeep)
    #expect(error?.message == "nesting deeper than 64 levels at byte 64")
  }

  @Test("objects count toward depth like arrays")
  func objectDepth() {
    #expect(parseError(#"{"a":{"b":{}}}"#, maxDepth: 3) == nil)
    let error = parseError(#"{"a":{"b":[1]}}"#, maxDepth: 2)
    #expect(error?.kind == .tooDeep)
    #expect(error?.message == "nesting deeper than 2 levels at byte 10")
  }

  @Test("scalars need no depth at all")
  func scalarsAtDepthZero() {
    #expect(parseError("1", maxDepth: 0) == nil)
    #expect(parseError("[]", maxDepth: 0)?.kind == .tooDeep)
  }

  @Test("a million opening brackets fail cleanly instead of overflowing the stack")
  func hostileNesting() {
    #expect(parseError(String(repeating: "[", count: 1_000_000))?.kind == .tooDeep)
    #expect(parseError(String(repeating: #"{"a":"#, count: 200_000))?.kind == .tooDeep)
  }

  @Test("documents over maxBytes are rejected before parsing")
  func tooLarge() {
    let error = parseError("[1, 2, 3]", maxBytes: 8)
    #expect(error?.kind == .tooLarge)
    #expect(error?.message == "document is 9 bytes, over the limit of 8 bytes")
    #expect(parseError("[1, 2, 3]", maxBytes: 9) == nil)
  }

  @Test("the default limit is 4 MiB")
  func defaultLimit() {
    let big = "\"" + String(repeating: "x", count: 4 << 20) + "\""
    #expect(parseError(big)?.kind == .tooLarge)
    let fits = "\"" + String(repeating: "x", count: (4 << 20) - 2) + "\""
    #expect(parseError(fits) == nil)
  }
}

// MARK: - Duplicate keys

@Suite("Duplicate keys")
struct JSONDuplicateKeyTests {
  @Test("a repeated key is rejected with its offset")
  func repeatedKey() {
    let error = parseError(#"{"a":1,"b":2,"a":3}"#)
    #expect(error?.kind == .duplicateField)
    #expect(error?.message == #"syntax error at byte 13: duplicate key "a" in object"#)
  }

  @Test("a repeated key is found in large objects too")
  func repeatedKeyInLargeObject() {
    let members = (0..<50).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
    let error = parseError("{" + members + ",\"k7\":0}")
    #expect(error?.kind == .duplicateField)
    #expect(error?.message.contains(#"duplicate key "k7""#) == true)
    let lateDuplicate = parseError("{" + members + ",\"k50\":0,\"k51\":1,\"k51\":2}")
    #expect(lateDuplicate?.message.contains(#"duplicate key "k51""#) == true)
  }

  @Test("the same key in different objects is fine")
  func sameKeyInSiblings() {
    #expect(parseError(#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#) == nil)
  }

  @Test("an escaped spelling of the same key is still a duplicate")
  func escapedDuplicate() {
    #expect(parseError(#"{"a":1,"\u0061":2}"#)?.kind == .duplicateField)
  }
}

// MARK: - Unicode

@Suite("UTF-8 and surrogates")
struct JSONUnicodeTests {
  @Test(
    "invalid UTF-8 inside strings is rejected at the offending byte",
    arguments: [
      ([0x22, 0xC3, 0x28, 0x22], 1),  // truncated two-byte sequence
      ([0x22, 0x61, 0xC0, 0xAF, 0x22], 2),  // overlong encoding of '/'
      ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),  // UTF-16 surrogate encoded in UTF-8
      ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),  // above U+10FFFF
      ([0x22, 0x61, 0x62, 0xFF, 0x22], 3),
      ([0x22, 0x80, 0x22], 1),  // lone continuation byte
      ([0x22, 0xE2, 0x82, 0x22], 1),  // sequence cut short by the quote
      ([0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22], 3),  // invalid byte after an escape
      ([0x22, 0xC3, 0x28, 0x5C, 0x6E, 0x22], 1),  // invalid byte before an escape
    ] as [([UInt8], Int)])
  func invalidUTF8(bytes: [UInt8], offset: Int) {
    let error = parseError(bytes: bytes)
    #expect(error?.kind == .syntax)
    #expect(error?.message == "syntax error at byte \(offset): invalid UTF-8 in string")
  }

  @Test(
    "lone surrogate escapes are rejected",
    arguments: [
      (#""\ud83d""#, #"syntax error at byte 1: lone surrogate \uD83D is not valid Unicode"#),
      (#""\ude00""#, #"syntax error at byte 1: lone surrogate \uDE00 is not valid Unicode"#),
      (#""ab\ud83dx""#, #"syntax error at byte 3: lone surrogate \uD83D is not valid Unicode"#),
      (#""\ud83d\u0041""#, #"syntax error at byte 1: lone surrogate \uD83D is not valid Unicode"#),
      (#""\ud83d\ud83d""#, #"syntax error at byte 1: lone surrogate \uD83D is not valid Unicode"#),
      (#""\ud83d\n""#, #"syntax error at byte 1: lone surrogate \uD83D is not valid Unicode"#),
      (#""\ud83d\u12""#, #"syntax error at byte 7: \u escape needs four hex digits"#),
    ])
  func loneSurrogates(input: String, message: String) {
    let error = parseError(input)
    #expect(error?.kind == .syntax)
    #expect(error?.message == message)
  }
}

// MARK: - Typed reads: integers

@Suite("Integer decoding")
struct JSONIntegerDecodingTests {
  @Test("int32 accepts numbers and numeric strings with integral values")
  func int32Accepts() throws {
    let path = JSONPath.root
    #expect(try JSONValue.number("42").decodeInt32(at: path) == 42)
    #expect(try JSONValue.number("-42").decodeInt32(at: path) == -42)
    #expect(try JSONValue.string("42").decodeInt32(at: path) == 42)
    #expect(try JSONValue.number("1.0").decodeInt32(at: path) == 1)
    #expect(try JSONValue.string("1.0").decodeInt32(at: path) == 1)
    #expect(try JSONValue.number("1e2").decodeInt32(at: path) == 100)
    #expect(try JSONValue.string("1e2").decodeInt32(at: path) == 100)
    #expect(try JSONValue.number("1500e-1").decodeInt32(at: path) == 150)
    #expect(try JSONValue.number("0.5e1").decodeInt32(at: path) == 5)
    #expect(try JSONValue.number("-0").decodeInt32(at: path) == 0)
    #expect(try JSONValue.number("0e99999999999999999999").decodeInt32(at: path) == 0)
    #expect(try JSONValue.number("2147483647").decodeInt32(at: path) == .max)
    #expect(try JSONValue.number("-2147483648").decodeInt32(at: path) == .min)
  }

  @Test("1.5 is not an integer")
  func fractionRejected() {
    let error = decodeError { () throws(ProtoJSONError) in try JSONValue.number("1.5").decodeInt32(at: quantityPath) }
    #expect(error?.kind == .invalidValue)
    #expect(error?.path == quantityPath)
    #expect(error?.message == "field items[2].quantity: expected an integer, found a number 1.5")
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.string("1.5").decodeInt64(at: .root) }?.kind == .invalidValue)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.number("1e-400").decodeInt64(at: .root) }?.kind == .invalidValue)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.number("15e-1").decodeUInt32(at: .root) }?.kind == .invalidValue)
  }

  @Test("int32 range is checked")
  func int32Range() {
    for literal in ["2147483648", "-2147483649", "1e10", "99999999999999999999999"] {
      let error = decodeError { () throws(ProtoJSONError) in try JSONValue.number(literal).decodeInt32(at: quantityPath) }
      #expect(error?.kind == .outOfRange, "\(literal)")
    }
    let error = decodeError { () throws(ProtoJSONError) in try JSONValue.number("2147483648").decodeInt32(at: quantityPath) }
    #expect(error?.message == "field items[2].quantity: 2147483648 is out of range for int32")
    let fromString = decodeError { () throws(ProtoJSONError) in try JSONValue.string("-2147483649").decodeInt32(at: .root) }
    #expect(fromString?.message == #"top-level value: "-2147483649" is out of range for int32"#)
  }

  @Test("uint32 rejects negatives but accepts -0")
  func uint32() throws {
    #expect(try JSONValue.number("4294967295").decodeUInt32(at: .root) == .max)
    #expect(try JSONValue.number("-0").decodeUInt32(at: .root) == 0)
    #expect(try JSONValue.string("-0.0").decodeUInt32(at: .root) == 0)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.number("-1").decodeUInt32(at: .root) }?.kind == .outOfRange)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.number("4294967296").decodeUInt32(at: .root) }?.kind == .outOfRange)
  }

  @Test("int64 extremes are exact as numbers and as strings")
  func int64Extremes() throws {
    #expect(try JSONValue.string("9223372036854775807").decodeInt64(at: .root) == .max)
    #expect(try JSONValue.number("9223372036854775807").decodeInt64(at: .root) == .max)
    #expect(try JSONValue.string("-9223372036854775808").decodeInt64(at: .root) == .min)
    #expect(try JSONValue.number("-9223372036854775808").decodeInt64(at: .root) == .min)
    #expect(try JSONValue.number("9007199254740993").decodeInt64(at: .root) == 9_007_199_254_740_993)
    #expect(try JSONValue.number("9.223372036854775807e18").decodeInt64(at: .root) == .max)
    #expect(try JSONValue.number("922337203685477580.7e1").decodeInt64(at: .root) == .max)
    #expect(try JSONValue.number("1e18").decodeInt64(at: .root) == 1_000_000_000_000_000_000)
    #expect(try JSONValue.number("100000000000000000000e-2").decodeInt64(at: .root) == 1_000_000_000_000_000_000)
    #expect(try JSONValue.number("00000").decodeInt64(at: .root) == 0)  // not valid JSON, but harmless
    #expect(try JSONValue.number("1234567890123456789").decodeInt64(at: .root) == 1_234_567_890_123_456_789)
    #expect(try JSONValue.number("-1234567890123456789.000").decodeInt64(at: .root) == -1_234_567_890_123_456_789)
  }

  @Test("2^63 is out of range for int64 in every spelling")
  func int64OutOfRange() {
    for value in [
      JSONValue.number("9223372036854775808"), .string("9223372036854775808"), .number("-9223372036854775809"),
      .number("9.223372036854775808e18"), .number("1e19"), .number("1e400"), .string("-1e30"),
      .number("123456789012345678901234567890"),
    ] {
      let error = decodeError { () throws(ProtoJSONError) in try value.decodeInt64(at: .root) }
      #expect(error?.kind == .outOfRange, "\(value)")
    }
  }

  @Test("uint64 extremes are exact and negatives are out of range")
  func uint64Extremes() throws {
    #expect(try JSONValue.string("18446744073709551615").decodeUInt64(at: .root) == .max)
    #expect(try JSONValue.number("18446744073709551615").decodeUInt64(at: .root) == .max)
    #expect(try JSONValue.number("18446744073709551615.000").decodeUInt64(at: .root) == .max)
    #expect(try JSONValue.number("1.8446744073709551615e19").decodeUInt64(at: .root) == .max)
    #expect(try JSONValue.number("0").decodeUInt64(at: .root) == 0)
    for value in [JSONValue.string("18446744073709551616"), .number("-1"), .number("1.8446744073709551616e19"), .number("2e19")] {
      #expect(decodeError { () throws(ProtoJSONError) in try value.decodeUInt64(at: .root) }?.kind == .outOfRange, "\(value)")
    }
  }

  @Test("strings that are not JSON numbers are invalid, other types are the wrong type")
  func nonNumbers() {
    for text in ["x", "", " 1", "1 ", "0x10", "+1", "01", "1_000", "NaN", "Infinity", "1.", ".5"] {
      let error = decodeError { () throws(ProtoJSONError) in try JSONValue.string(text).decodeInt32(at: quantityPath) }
      #expect(error?.kind == .invalidValue, "\(text)")
    }
    let error = decodeError { () throws(ProtoJSONError) in try JSONValue.string("x").decodeInt32(at: quantityPath) }
    #expect(error?.message == #"field items[2].quantity: expected an integer, found a string "x""#)
    let wrong = decodeError { () throws(ProtoJSONError) in try JSONValue.bool(true).decodeInt64(at: quantityPath) }
    #expect(wrong?.kind == .wrongType)
    #expect(wrong?.message == "field items[2].quantity: expected an integer, found true")
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.null.decodeUInt64(at: .root) }?.kind == .wrongType)
  }

  @Test("integers written by the writer read back exactly")
  func roundTrip() throws {
    var rng = SplitMix64(state: 7)
    for _ in 0..<2_000 {
      let signed = Int64(bitPattern: rng.next() >> UInt64.random(in: 0...63, using: &rng))
      let unsigned = rng.next() >> UInt64.random(in: 0...63, using: &rng)
      let int32 = Int32(truncatingIfNeeded: signed)
      var writer = JSONWriter()
      writer.beginArray()
      writer.value(signed)
      writer.value(unsigned)
      writer.value(int32)
      writer.value(UInt32(truncatingIfNeeded: unsigned))
      writer.endArray()
      let values = try JSONParser.parse(writer.bytes).decodeArray(at: .root)
      #expect(try values[0].decodeInt64(at: .root) == signed)
      #expect(try values[1].decodeUInt64(at: .root) == unsigned)
      #expect(try values[2].decodeInt32(at: .root) == int32)
      #expect(try values[3].decodeUInt32(at: .root) == UInt32(truncatingIfNeeded: unsigned))
    }
  }
}

// MARK: - Typed reads: floating point

@Suite("Floating-point decoding")
struct JSONFloatingDecodingTests {
  @Test("doubles come from numbers and numeric strings, correctly rounded")
  func doubles() throws {
    #expect(try JSONValue.number("1.5").decodeDouble(at: .root) == 1.5)
    #expect(try JSONValue.string("-2.5e-3").decodeDouble(at: .root) == -2.5e-3)
    #expect(try JSONValue.number("0.1").decodeDouble(at: .root) == 0.1)
    #expect(try JSONValue.number("1e22").decodeDouble(at: .root) == 1e22)
    #expect(try JSONValue.number("1e23").decodeDouble(at: .root) == 1e23)
    #expect(try JSONValue.number("1.7976931348623157e308").decodeDouble(at: .root) == .greatestFiniteMagnitude)
    #expect(try JSONValue.number("2.2250738585072014e-308").decodeDouble(at: .root) == .leastNormalMagnitude)
    #expect(try JSONValue.number("5e-324").decodeDouble(at: .root) == .leastNonzeroMagnitude)
    #expect(try JSONValue.number("9007199254740993").decodeDouble(at: .root) == 9_007_199_254_740_992)
    #expect(try JSONValue.number("123456789012345678901234567890").decodeDouble(at: .root) == 1.2345678901234568e29)
    #expect(try JSONValue.number("1e-400").decodeDouble(at: .root) == 0)
    let negativeZero = try JSONValue.number("-0").decodeDouble(at: .root)
    #expect(negativeZero == 0 && negativeZero.sign == .minus)
  }

  @Test("NaN and the infinities are read from their strings")
  func specials() throws {
    #expect(try JSONValue.string("NaN").decodeDouble(at: .root).isNaN)
    #expect(try JSONValue.string("Infinity").decodeDouble(at: .root) == .infinity)
    #expect(try JSONValue.string("-Infinity").decodeDouble(at: .root) == -.infinity)
    #expect(try JSONValue.string("NaN").decodeFloat(at: .root).isNaN)
    #expect(try JSONValue.string("Infinity").decodeFloat(at: .root) == .infinity)
    #expect(try JSONValue.string("-Infinity").decodeFloat(at: .root) == -.infinity)
    for text in ["nan", "inf", "infinity", "+Infinity", "-NaN", "", " 1", "1.", "0x1p3", "1,5"] {
      let error = decodeError { () throws(ProtoJSONError) in try JSONValue.string(text).decodeDouble(at: .root) }
      #expect(error?.kind == .invalidValue, "\(text)")
    }
  }

  @Test("finite literals beyond Double's range are out of range")
  func doubleOutOfRange() {
    for value in [JSONValue.number("1e400"), .number("-1e400"), .string("1.8e308")] {
      let error = decodeError { () throws(ProtoJSONError) in try value.decodeDouble(at: quantityPath) }
      #expect(error?.kind == .outOfRange, "\(value)")
    }
    let error = decodeError { () throws(ProtoJSONError) in try JSONValue.number("1e400").decodeDouble(at: quantityPath) }
    #expect(error?.message == "field items[2].quantity: 1e400 is out of range for double")
  }

  @Test("floats round directly from the literal and reject values beyond Float's range")
  func floats() throws {
    #expect(try JSONValue.number("0.1").decodeFloat(at: .root) == Float(0.1))
    #expect(try JSONValue.number("3.4028235e38").decodeFloat(at: .root) == .greatestFiniteMagnitude)
    #expect(try JSONValue.number("1e-50").decodeFloat(at: .root) == 0)
    #expect(try JSONValue.number("16777217").decodeFloat(at: .root) == 16_777_216)
    for value in [JSONValue.number("3.5e38"), .number("-1e39"), .string("1e300"), .number("1e400")] {
      let error = decodeError { () throws(ProtoJSONError) in try value.decodeFloat(at: .root) }
      #expect(error?.kind == .outOfRange, "\(value)")
    }
  }

  @Test("wrong types are named in the message")
  func wrongTypes() {
    let error = decodeError { () throws(ProtoJSONError) in try JSONValue.array([]).decodeDouble(at: quantityPath) }
    #expect(error?.kind == .wrongType)
    #expect(error?.message == "field items[2].quantity: expected a number, found an array")
  }

  @Test("doubles and floats written by the writer read back bit for bit")
  func roundTrip() throws {
    var rng = SplitMix64(state: 99)
    var doubles: [Double] = [0, -0.0, 1, -1, 0.1, 1e100, -1e-100, .greatestFiniteMagnitude, .leastNonzeroMagnitude,
                             .leastNormalMagnitude, 1e15, 1e16, 123456789012345680, 999999999999999, 0.5, 2.5e-10]
    var floats: [Float] = [0, -0.0, 1, 0.1, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 16_777_216, 1e7, 9_999_999, 3.14159]
    for _ in 0..<3_000 {
      let d = Double(bitPattern: rng.next())
      if d.isFinite { doubles.append(d) }
      let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
      if f.isFinite { floats.append(f) }
      doubles.append(Double(Int64(bitPattern: rng.next()) >> 20) / 1000)
    }
    var writer = JSONWriter()
    writer.beginObject()
    writer.key("d")
    writer.beginArray()
    for d in doubles { writer.value(d) }
    writer.endArray()
    writer.key("f")
    writer.beginArray()
    for f in floats { writer.value(f) }
    writer.endArray()
    writer.endObject()
    let object = try JSONParser.parse(writer.bytes).decodeObject(at: .root)
    let readDoubles = try object["d"]!.decodeArray(at: .root)
    let readFloats = try object["f"]!.decodeArray(at: .root)
    for (written, read) in zip(doubles, readDoubles) {
      #expect(try read.decodeDouble(at: .root).bitPattern == written.bitPattern, "\(written) as \(read)")
    }
    for (written, read) in zip(floats, readFloats) {
      #expect(try read.decodeFloat(at: .root).bitPattern == written.bitPattern, "\(written) as \(read)")
    }
  }
}

// MARK: - Typed reads: other types

@Suite("Other typed reads")
struct JSONOtherDecodingTests {
  @Test("strings, bools, arrays, objects and null")
  func basics() throws {
    #expect(try JSONValue.string("x").decodeString(at: .root) == "x")
    #expect(try JSONValue.bool(false).decodeBool(at: .root) == false)
    #expect(try JSONValue.array([.null]).decodeArray(at: .root) == [.null])
    #expect(try JSONValue.object(JSONObject(members: [])).decodeObject(at: .root) == JSONObject(members: []))
    #expect(JSONValue.null.isNull)
    #expect(!JSONValue.string("null").isNull)
  }

  @Test(
    "wrong-type messages describe the value found briefly",
    arguments: [
      (JSONValue.string("abc"), #"field items[2].quantity: expected a string, found a string "abc""#),
      (.string("abcdefghijklmnopqrstuvwxyz"), #"field items[2].quantity: expected a string, found a string "abcdefghijklmnopqrst...""#),
      (.string("a\nb"), #"field items[2].quantity: expected a string, found a string "a\nb""#),
      (.number("1.5"), "field items[2].quantity: expected a string, found a number 1.5"),
      (.object(JSONObject(members: [])), "field items[2].quantity: expected a string, found an object"),
      (.array([]), "field items[2].quantity: expected a string, found an array"),
      (.null, "field items[2].quantity: expected a string, found null"),
      (.bool(true), "field items[2].quantity: expected a string, found true"),
      (.bool(false), "field items[2].quantity: expected a string, found false"),
    ])
  func wrongTypeDescriptions(found: JSONValue, message: String) {
    let error = ProtoJSONError.wrongType(expected: "a string", found: found, at: quantityPath)
    #expect(error.kind == .wrongType)
    #expect(error.path == quantityPath)
    #expect(error.message == message)
  }

  @Test("each typed read rejects the wrong JSON type")
  func typedReadsRejectWrongTypes() {
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.number("1").decodeString(at: .root) }?.kind == .wrongType)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.string("true").decodeBool(at: .root) }?.kind == .wrongType)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.null.decodeArray(at: .root) }?.kind == .wrongType)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.null.decodeObject(at: .root) }?.kind == .wrongType)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.array([]).decodeObject(at: .root) }?.message
      == "top-level value: expected an object, found an array")
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.number("1").decodeBytes(at: .root) }?.kind == .wrongType)
  }

  @Test("bytes accept the standard and URL-safe alphabets, padded or not")
  func base64Alphabets() throws {
    #expect(try JSONValue.string("aGVsbG8=").decodeBytes(at: .root) == Array("hello".utf8))
    #expect(try JSONValue.string("aGVsbG8").decodeBytes(at: .root) == Array("hello".utf8))
    #expect(try JSONValue.string("aGVsbA==").decodeBytes(at: .root) == Array("hell".utf8))
    #expect(try JSONValue.string("aGVsbA").decodeBytes(at: .root) == Array("hell".utf8))
    #expect(try JSONValue.string("aGVs").decodeBytes(at: .root) == Array("hel".utf8))
    #expect(try JSONValue.string("").decodeBytes(at: .root) == [])
    #expect(try JSONValue.string("+/8=").decodeBytes(at: .root) == [0xFB, 0xFF])
    #expect(try JSONValue.string("-_8=").decodeBytes(at: .root) == [0xFB, 0xFF])
    #expect(try JSONValue.string("-_8").decodeBytes(at: .root) == [0xFB, 0xFF])
    #expect(try JSONValue.string("+_-/").decodeBytes(at: .root) == [0xFB, 0xFF, 0xBF])
  }

  @Test("malformed base64 is an invalid value")
  func badBase64() {
    for text in ["a", "aGVsb", "ab=c", "a===", "aGVsbG8==", "aGVs=", "=", "==", "====", " aGVs", "aGVs\n", "aG!s", "é", "aGVsbG8=aGVs"] {
      let error = decodeError { () throws(ProtoJSONError) in try JSONValue.string(text).decodeBytes(at: quantityPath) }
      #expect(error?.kind == .invalidValue, "\(text)")
    }
    let error = decodeError { () throws(ProtoJSONError) in try JSONValue.string("a").decodeBytes(at: quantityPath) }
    #expect(error?.message == #"field items[2].quantity: expected a base64 string, found a string "a""#)
  }

  @Test("every byte value and length survives a base64 round trip")
  func base64RoundTrip() throws {
    let all = (0...255).map { UInt8($0) }
    for length in 0...all.count {
      let data = Array(all[0..<length].reversed())
      var writer = JSONWriter()
      writer.value(bytes: data)
      #expect(try JSONParser.parse(writer.bytes).decodeBytes(at: .root) == data)
    }
  }

  @Test("integer map keys parse like numeric strings")
  func integerMapKeys() throws {
    let path = JSONPath.root.appending(field: "counts")
    #expect(try JSONValue.decodeMapKeyInt32("-5", at: path) == -5)
    #expect(try JSONValue.decodeMapKeyInt64("-9223372036854775808", at: path) == .min)
    #expect(try JSONValue.decodeMapKeyUInt32("4294967295", at: path) == .max)
    #expect(try JSONValue.decodeMapKeyUInt64("18446744073709551615", at: path) == .max)
    let bad = decodeError { () throws(ProtoJSONError) in try JSONValue.decodeMapKeyInt32("abc", at: path.appending(mapKey: "abc")) }
    #expect(bad?.kind == .invalidValue)
    #expect(bad?.message == #"field counts["abc"]: expected an integer, found a string "abc""#)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.decodeMapKeyUInt32("-1", at: path) }?.kind == .outOfRange)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.decodeMapKeyInt64("9223372036854775808", at: path) }?.kind == .outOfRange)
    #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.decodeMapKeyUInt64("1.5", at: path) }?.kind == .invalidValue)
  }

  @Test("bool map keys are exactly \"true\" or \"false\"")
  func boolMapKeys() throws {
    #expect(try JSONValue.decodeMapKeyBool("true", at: .root) == true)
    #expect(try JSONValue.decodeMapKeyBool("false", at: .root) == false)
    for key in ["True", "1", "", "yes"] {
      #expect(decodeError { () throws(ProtoJSONError) in try JSONValue.decodeMapKeyBool(key, at: .root) }?.kind == .invalidValue)
    }
  }
}

// MARK: - Error factories

@Suite("Error factories for generated code")
struct JSONErrorFactoryTests {
  @Test("unknown fields name the field and the message")
  func unknownField() {
    let error = ProtoJSONError.unknownField("fulName", in: "CreateUserRequest", at: .root)
    #expect(error.kind == .unknownField)
    #expect(error.message == #"unknown field "fulName" in CreateUserRequest"#)
    #expect("\(error)" == error.message)
    let nested = ProtoJSONError.unknownField("skew", in: "LineItem", at: JSONPath.root.appending(field: "items").appending(index: 2))
    #expect(nested.message == #"unknown field "skew" in LineItem at items[2]"#)
  }

  @Test("unknown enum values name the value and the enum")
  func unknownEnumValue() {
    let path = JSONPath.root.appending(field: "status")
    let error = ProtoJSONError.unknownEnumValue("SHIPED", enumName: "souk.v1.OrderStatus", at: path)
    #expect(error.kind == .invalidValue)
    #expect(error.path == path)
    #expect(error.message == #"field status: unknown value "SHIPED" for enum souk.v1.OrderStatus"#)
  }

  @Test("two members of one oneof are a duplicate")
  func duplicateOneof() {
    let path = JSONPath.root.appending(field: "payment")
    let error = ProtoJSONError.duplicateOneof("method", at: path)
    #expect(error.kind == .duplicateField)
    #expect(error.message == #"more than one member of oneof "method" is set at payment"#)
    #expect(ProtoJSONError.duplicateOneof("method", at: .root).message == #"more than one member of oneof "method" is set"#)
  }

  @Test("errors compare by kind, path and message")
  func equality() {
    let a = ProtoJSONError(kind: .invalidValue, path: quantityPath, message: "m")
    #expect(a == ProtoJSONError(kind: .invalidValue, path: quantityPath, message: "m"))
    #expect(a != ProtoJSONError(kind: .outOfRange, path: quantityPath, message: "m"))
    #expect(a != ProtoJSONError(kind: .invalidValue, path: .root, message: "m"))
  }
}

// MARK: - Writer

@Suite("JSONWriter")
struct JSONWriterTests {
  @Test("commas go between elements at every nesting level")
  func commas() {
    let json = written { w in
      w.beginObject()
      w.key("a")
      w.value(Int32(1))
      w.key("b")
      w.beginArray()
      w.value(Int32(1))
      w.value(Int32(2))
      w.beginObject()
      w.key("c")
      w.value(true)
      w.endObject()
      w.beginArray()
      w.endArray()
      w.endArray()
      w.key("d")
      w.beginObject()
      w.endObject()
      w.key("e")
      w.valueNull()
      w.endObject()
    }
    #expect(json == #"{"a":1,"b":[1,2,{"c":true},[]],"d":{},"e":null}"#)
  }

  @Test("nested empty arrays are separated")
  func nestedArrays() {
    let json = written { w in
      w.beginArray()
      for count in [0, 1, 0, 2] {
        w.beginArray()
        for i in 0..<count { w.value(UInt32(i)) }
        w.endArray()
      }
      w.endArray()
    }
    #expect(json == "[[],[0],[],[0,1]]")
  }

  @Test("raw fragments take part in comma placement")
  func rawFragments() {
    let json = written { w in
      w.beginArray()
      w.value(Int32(1))
      w.raw(#"{"x":1}"#)
      w.raw("[]")
      w.valueNull()
      w.endArray()
    }
    #expect(json == #"[1,{"x":1},[],null]"#)
    let inObject = written { w in
      w.beginObject()
      w.key("m")
      w.raw(#"{"x":1}"#)
      w.key("n")
      w.value(false)
      w.endObject()
    }
    #expect(inObject == #"{"m":{"x":1},"n":false}"#)
  }

  @Test("string values escape quotes, backslashes and control characters only")
  func escaping() {
    #expect(written { $0.value("say \"hi\" \\ bye") } == #""say \"hi\" \\ bye""#)
    #expect(written { $0.value("\n\r\t\u{8}\u{c}") } == #""\n\r\t\b\f""#)
    #expect(written { $0.value("\u{0}\u{1}\u{1f}") } == #""\u0000\u0001\u001f""#)
    #expect(written { $0.value("a/b\u{7f}") } == "\"a/b\u{7f}\"")
    #expect(written { $0.value("é😀\u{2028}\u{2029}日本") } == "\"é😀\u{2028}\u{2029}日本\"")
    #expect(written { $0.value("") } == #""""#)
    #expect(written { $0.value("plain") } == #""plain""#)
  }

  @Test("non-BMP text is written as raw UTF-8 bytes")
  func nonBMPBytes() {
    var writer = JSONWriter()
    writer.value("😀")
    #expect(writer.bytes == [0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22])
  }

  @Test("escaped strings parse back to the original")
  func escapeRoundTrip() throws {
    let all = String(String.UnicodeScalarView((0..<0x300).compactMap(Unicode.Scalar.init))) + "😀\u{10FFFF}"
    var writer = JSONWriter()
    writer.value(all)
    #expect(try JSONParser.parse(writer.bytes) == .string(all))
  }

  @Test("map keys are escaped, static keys are copied")
  func keys() {
    let json = written { w in
      w.beginObject()
      w.key("plain")
      w.value(Int32(0))
      w.key(String("we\"ird\nkey"))
      w.value(Int32(1))
      w.endObject()
    }
    #expect(json == #"{"plain":0,"we\"ird\nkey":1}"#)
  }

  @Test("32-bit integers are bare and 64-bit integers are quoted")
  func integers() {
    #expect(written { $0.value(Int32.min) } == "-2147483648")
    #expect(written { $0.value(Int32.max) } == "2147483647")
    #expect(written { $0.value(Int32(0)) } == "0")
    #expect(written { $0.value(Int32(-7)) } == "-7")
    #expect(written { $0.value(UInt32.max) } == "4294967295")
    #expect(written { $0.value(Int64.min) } == #""-9223372036854775808""#)
    #expect(written { $0.value(Int64.max) } == #""9223372036854775807""#)
    #expect(written { $0.value(Int64(0)) } == #""0""#)
    #expect(written { $0.value(UInt64.max) } == #""18446744073709551615""#)
    #expect(written { $0.value(UInt64(10)) } == #""10""#)
  }

  @Test(
    "doubles print in their shortest round-trip form without a trailing .0",
    arguments: [
      (1.0, "1"), (-0.0, "-0"), (0.0, "0"), (0.1, "0.1"), (1.5, "1.5"), (-2.5e-10, "-2.5e-10"),
      (1e100, "1e+100"), (100.0, "100"), (-123456.0, "-123456"), (123456789012345680.0, "1.2345678901234568e+17"),
      (999999999999999.0, "999999999999999"), (1e16, "1e+16"), (0.00001, "1e-05"),
      (Double.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    ] as [(Double, String)])
  func doubles(value: Double, text: String) {
    #expect(written { $0.value(value) } == text)
  }

  @Test("non-finite doubles and floats are quoted names")
  func nonFinite() {
    #expect(written { $0.value(Double.nan) } == #""NaN""#)
    #expect(written { $0.value(Double.infinity) } == #""Infinity""#)
    #expect(written { $0.value(-Double.infinity) } == #""-Infinity""#)
    #expect(written { $0.value(Float.nan) } == #""NaN""#)
    #expect(written { $0.value(Float.infinity) } == #""Infinity""#)
    #expect(written { $0.value(-Float.infinity) } == #""-Infinity""#)
  }

  @Test(
    "floats print with Float's own shortest form",
    arguments: [
      (Float(0.1), "0.1"), (Float(1), "1"), (Float(-0.0), "-0"), (Float(16_777_216), "16777216"), (Float(1e8), "1e+08"),
      (Float(3.4028235e38), "3.4028235e+38"), (Float(1e7), "10000000"), (Float(2.5), "2.5"),
    ] as [(Float, String)])
  func floats(value: Float, text: String) {
    #expect(written { $0.value(value) } == text)
  }

  @Test("the integral fast path matches Swift's own printing")
  func integralFastPath() {
    var rng = SplitMix64(state: 5)
    for _ in 0..<5_000 {
      let d = Double(Int64.random(in: -999_999_999_999_999...999_999_999_999_999, using: &rng) >> Int.random(in: 0...50, using: &rng))
      var expected = d.description
      if expected.hasSuffix(".0") { expected.removeLast(2) }
      #expect(written { $0.value(d) } == expected)
      let f = Float(Int32.random(in: -9_999_999...9_999_999, using: &rng) >> Int32.random(in: 0...23, using: &rng))
      var expectedFloat = f.description
      if expectedFloat.hasSuffix(".0") { expectedFloat.removeLast(2) }
      #expect(written { $0.value(f) } == expectedFloat)
    }
  }

  @Test("bytes are standard base64 with padding")
  func bytes() {
    #expect(written { $0.value(bytes: Array("hello".utf8)) } == #""aGVsbG8=""#)
    #expect(written { $0.value(bytes: Array("hell".utf8)) } == #""aGVsbA==""#)
    #expect(written { $0.value(bytes: Array("hel".utf8)) } == #""aGVs""#)
    #expect(written { $0.value(bytes: []) } == #""""#)
    #expect(written { $0.value(bytes: [0xFB, 0xFF]) } == #""+/8=""#)
  }

  @Test("a written document parses back to the same tree")
  func documentRoundTrip() throws {
    var writer = JSONWriter()
    writer.beginObject()
    writer.key("name")
    writer.value("Zoë \"Z\"")
    writer.key("tags")
    writer.beginArray()
    writer.value("a")
    writer.value("b")
    writer.endArray()
    writer.key("price")
    writer.value(Int64(-12))
    writer.key("labels")
    writer.beginObject()
    writer.key(String("k"))
    writer.value(1.25)
    writer.endObject()
    writer.endObject()
    let expected = JSONValue.object(
      JSONObject(members: [
        (key: "name", value: .string("Zoë \"Z\"")),
        (key: "tags", value: .array([.string("a"), .string("b")])),
        (key: "price", value: .string("-12")),
        (key: "labels", value: .object(JSONObject(members: [(key: "k", value: .number("1.25"))]))),
      ]))
    #expect(try JSONParser.parse(writer.bytes) == expected)
    #expect(try JSONParser.parse(writer.string) == expected)
  }
}
