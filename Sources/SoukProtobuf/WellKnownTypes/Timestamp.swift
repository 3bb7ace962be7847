// The JSON form of google.protobuf.Timestamp: an RFC 3339 string in UTC.

extension Google_Protobuf_Timestamp {
    /// 0001-01-01T00:00:00Z, the earliest instant with a JSON form.
    public static let minimumSeconds: Int64 = -62_135_596_800
    /// 9999-12-31T23:59:59Z, the latest whole second with a JSON form.
    public static let maximumSeconds: Int64 = 253_402_300_799

    /// The instant `seconds` and `nanos` (0 to 999,999,999) after 1970-01-01T00:00:00Z.
    public init(seconds: Int64, nanos: Int32 = 0) {
        self.init()
        self.seconds = seconds
        self.nanos = nanos
    }

    /// The instant `milliseconds` after (or before, when negative) 1970-01-01T00:00:00Z.
    public init(unixMilliseconds milliseconds: Int64) {
        let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        self.init(seconds: remainder < 0 ? quotient - 1 : quotient,
                  nanos: Int32(remainder < 0 ? remainder + 1000 : remainder) * 1_000_000)
    }

    /// Whole milliseconds since 1970-01-01T00:00:00Z, rounded down.
    public var unixMilliseconds: Int64 {
        seconds * 1000 + Int64(nanos / 1_000_000)
    }

    /// True when the value is within years 1 to 9999 and `nanos` within 0 to 999,999,999: the
    /// range proto3 JSON can write.
    public var isValid: Bool {
        (Self.minimumSeconds...Self.maximumSeconds).contains(seconds) && (0..<1_000_000_000).contains(nanos)
    }

    /// `2024-02-29T13:05:09.120Z`: UTC, with 0, 3, 6 or 9 fractional digits; nil when not ``isValid``.
    public var rfc3339String: String? {
        guard isValid else { return nil }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(fromDays: days)
        var text: [UInt8] = []
        text.reserveCapacity(30)
        CivilCalendar.appendDigits(year, count: 4, to: &text)
        text.append(UInt8(ascii: "-"))
        CivilCalendar.appendDigits(month, count: 2, to: &text)
        text.append(UInt8(ascii: "-"))
        CivilCalendar.appendDigits(day, count: 2, to: &text)
        text.append(UInt8(ascii: "T"))
        CivilCalendar.appendDigits(secondOfDay / 3600, count: 2, to: &text)
        text.append(UInt8(ascii: ":"))
        CivilCalendar.appendDigits(secondOfDay / 60 % 60, count: 2, to: &text)
        text.append(UInt8(ascii: ":"))
        CivilCalendar.appendDigits(secondOfDay % 60, count: 2, to: &text)
        CivilCalendar.appendFraction(nanos, to: &text)
        text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }

    public func encodeJSON(to writer: inout JSONWriter) {
        guard let text = rfc3339String else {
            writer.fail(ProtoJSONError(kind: .outOfRange, path: .root, message:
                "google.protobuf.Timestamp {seconds: \(seconds), nanos: \(nanos)} has no JSON form: it must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z with nanos 0 to 999999999"))
            return
        }
        writer.value(text)
    }

    /// Reads `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hh:mm)`; an offset is applied, so the value is UTC.
    public init(json: JSONValue, at path: JSONPath) throws {
        guard case .string(let text) = json else {
            throw ProtoJSONError.wrongType(expected: "an RFC 3339 timestamp string such as \"2024-02-29T13:05:09Z\"",
                                           found: json, at: path)
        }
        func invalid(_ why: String) -> ProtoJSONError {
            ProtoJSONError(kind: .invalidValue, path: path, message:
                "\(ProtoJSONError.fieldPrefix(path))\(JSONText.quoted(JSONText.truncated(text))) is not an RFC 3339 timestamp: \(why)")
        }
        var scanner = DigitScanner(Array(text.utf8))
        let shape = "expected YYYY-MM-DDThh:mm:ss, optional 1 to 9 fractional digits, then Z or an offset such as +02:00"
        guard let year = scanner.digits(4), scanner.skip("-"), let month = scanner.digits(2), scanner.skip("-"),
              let day = scanner.digits(2), scanner.skip("T"), let hour = scanner.digits(2), scanner.skip(":"),
              let minute = scanner.digits(2), scanner.skip(":"), let second = scanner.digits(2) else {
            throw invalid(shape)
        }
        var nanos: Int64 = 0
        if scanner.skip(".") {
            guard let fraction = scanner.fraction() else { throw invalid("expected 1 to 9 digits after the decimal point") }
            nanos = fraction
        }
        var offset: Int64 = 0
        if !scanner.skip("Z") {
            let sign: Int64
            if scanner.skip("+") { sign = 1 } else if scanner.skip("-") { sign = -1 } else { throw invalid(shape) }
            guard let offsetHours = scanner.digits(2), scanner.skip(":"), let offsetMinutes = scanner.digits(2) else {
                throw invalid("expected an offset such as +02:00 or -05:30")
            }
            guard offsetHours <= 23, offsetMinutes <= 59 else { throw invalid("the offset is not a valid hh:mm") }
            offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard scanner.atEnd else { throw invalid(shape) }
        guard (1...12).contains(month), day >= 1, day <= CivilCalendar.daysIn(month: month, year: year) else {
            throw invalid("\(year)-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day) is not a date")
        }
        guard hour <= 23, minute <= 59, second <= 59 else { throw invalid("the time of day is not valid (leap seconds are smeared, never written as :60)") }
        let seconds = CivilCalendar.days(year: year, month: month, day: day) * 86_400
            + hour * 3600 + minute * 60 + second - offset
        guard (Self.minimumSeconds...Self.maximumSeconds).contains(seconds) else {
            throw ProtoJSONError(kind: .outOfRange, path: path, message:
                "\(ProtoJSONError.fieldPrefix(path))\(JSONText.quoted(text)) is outside the range 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z")
        }
        self.init(seconds: seconds, nanos: Int32(nanos))
    }
}

/// Dates in the proleptic Gregorian calendar, as days since 1970-01-01 (Howard Hinnant's algorithms).
enum CivilCalendar {
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func date(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func appendDigits(_ value: Int64, count: Int, to text: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            text.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// `.123`, `.123456` or `.123456789` for nanos that need 3, 6 or 9 digits; nothing for 0.
    static func appendFraction(_ nanos: Int32, to text: inout [UInt8]) {
        guard nanos != 0 else { return }
        text.append(UInt8(ascii: "."))
        if nanos % 1_000_000 == 0 {
            appendDigits(Int64(nanos / 1_000_000), count: 3, to: &text)
        } else if nanos % 1000 == 0 {
            appendDigits(Int64(nanos / 1000), count: 6, to: &text)
        } else {
            appendDigits(Int64(nanos), count: 9, to: &text)
        }
    }
}

/// Reads fixed-width ASCII digits and separators, for the well-known types' JSON strings.
struct DigitScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position == bytes.count }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard position < bytes.count, bytes[position] == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    /// Exactly `count` digits.
    mutating func digits(_ count: Int) -> Int64? {
        guard position + count <= bytes.count else { return nil }
        var value: Int64 = 0
        for byte in bytes[position..<position + count] {
            guard (0x30...0x39).contains(byte) else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        position += count
        return value
    }

    /// One or more digits, at most `limit`.
    mutating func number(limit: Int) -> Int64? {
        var value: Int64 = 0
        let start = position
        while position < bytes.count, (0x30...0x39).contains(bytes[position]) {
            guard position - start < limit else { return nil }
            value = value * 10 + Int64(bytes[position] - 0x30)
            position += 1
        }
        return position > start ? value : nil
    }

    /// 1 to 9 digits after a decimal point, as nanoseconds.
    mutating func fraction() -> Int64? {
        let start = position
        guard var value = number(limit: 9) else { return nil }
        for _ in (position - start)..<9 { value *= 10 }
        return value
    }
}
