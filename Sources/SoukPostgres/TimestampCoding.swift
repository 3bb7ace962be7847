import SoukProtobuf

// timestamptz as google.protobuf.Timestamp, exactly: PostgreSQL keeps microseconds since
// 2000-01-01, so no value goes through a Double as a `Date` would. Services answer with
// Timestamps, so rows are read straight into them.

extension Google_Protobuf_Timestamp: PostgresDecodable {
    /// Reads timestamptz, and timestamp (without time zone) as UTC; `infinity` has no Timestamp.
    public init(postgresValue value: PostgresValue) throws {
        guard value.dataType == .timestamptz || value.dataType == .timestamp else {
            throw value.typeMismatch(Google_Protobuf_Timestamp.self)
        }
        guard let micros = value.bytes.bigEndianInteger(Int64.self) else {
            throw value.malformed(Google_Protobuf_Timestamp.self, "\(value.bytes.count) bytes")
        }
        guard micros != .max, micros != .min else {
            throw value.malformed(Google_Protobuf_Timestamp.self, "an infinite timestamp has no google.protobuf.Timestamp")
        }
        let sinceUnix = micros + postgresEpochOffsetMicroseconds
        let (seconds, remainder) = sinceUnix.quotientAndRemainder(dividingBy: 1_000_000)
        self = remainder < 0
            ? Google_Protobuf_Timestamp(seconds: seconds - 1, nanos: Int32(remainder + 1_000_000) * 1000)
            : Google_Protobuf_Timestamp(seconds: seconds, nanos: Int32(remainder) * 1000)
    }
}

extension Google_Protobuf_Timestamp: PostgresEncodable {
    /// A Timestamp is a `timestamptz`, truncated to the microsecond PostgreSQL keeps.
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public func encode(into buffer: inout [UInt8]) {
        (seconds * 1_000_000 + Int64(nanos / 1000) - postgresEpochOffsetMicroseconds).appendBigEndian(to: &buffer)
    }
}
