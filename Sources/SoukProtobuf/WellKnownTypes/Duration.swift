// The JSON form of google.protobuf.Duration: seconds with an `s` suffix, such as "1.5s".

extension Google_Protobuf_Duration {
    /// About 10,000 years, the largest magnitude the type allows.
    public static let maximumSeconds: Int64 = 315_576_000_000

    /// `seconds` plus `nanos` (which has the same sign, or is 0).
    public init(seconds: Int64, nanos: Int32 = 0) {
        self.init()
        self.seconds = seconds
        self.nanos = nanos
    }

    /// True when within ±315,576,000,000 s and `nanos` is within ±999,999,999 with the sign of `seconds`.
    public var isValid: Bool {
        seconds.magnitude <= Self.maximumSeconds && nanos.magnitude < 1_000_000_000
            && !(seconds > 0 && nanos < 0) && !(seconds < 0 && nanos > 0)
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        guard isValid else {
            writer.fail(ProtoJSONError(kind: .outOfRange, path: .root, message:
                "google.protobuf.Duration {seconds: \(seconds), nanos: \(nanos)} has no JSON form: seconds must be within ±315576000000 and nanos within ±999999999 with the same sign"))
            return
        }
        var text: [UInt8] = []
        if seconds < 0 || nanos < 0 { text.append(UInt8(ascii: "-")) }
        text.append(contentsOf: String(seconds.magnitude).utf8)
        CivilCalendar.appendFraction(Int32(nanos.magnitude), to: &text)
        text.append(UInt8(ascii: "s"))
        writer.value(String(decoding: text, as: UTF8.self))
    }

    /// Reads `[-]seconds[.f{1,9}]s`.
    public init(json: JSONValue, at path: JSONPath) throws {
        guard case .string(let text) = json else {
            throw ProtoJSONError.wrongType(expected: "a duration string such as \"1.5s\"", found: json, at: path)
        }
        var scanner = DigitScanner(Array(text.utf8))
        let negative = scanner.skip("-")
        var nanos: Int64 = 0
        guard let seconds = scanner.number(limit: 12),
              !scanner.skip(".") || { guard let f = scanner.fraction() else { return false }; nanos = f; return true }(),
              scanner.skip("s"), scanner.atEnd else {
            throw ProtoJSONError(kind: .invalidValue, path: path, message:
                "\(ProtoJSONError.fieldPrefix(path))\(JSONText.quoted(JSONText.truncated(text))) is not a duration: expected seconds with up to 9 fractional digits and an `s`, such as \"1.5s\" or \"-0.250s\"")
        }
        guard seconds <= Self.maximumSeconds else {
            throw ProtoJSONError(kind: .outOfRange, path: path, message:
                "\(ProtoJSONError.fieldPrefix(path))\(JSONText.quoted(text)) is outside the range ±315576000000s")
        }
        self.init(seconds: negative ? -seconds : seconds, nanos: Int32(negative ? -nanos : nanos))
    }
}
