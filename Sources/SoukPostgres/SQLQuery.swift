/// A parameterised SQL statement: SQL text that can only come from string literals,
/// and values that can only travel as bind parameters.
///
/// ```swift
/// let rows = try await db.query("SELECT id, name FROM users WHERE email = \(email) AND active = \(true)")
/// // sent as: SELECT id, name FROM users WHERE email = $1 AND active = $2
/// ```
///
/// The literal segments are `StaticString`s, so a `String` built at run time cannot become
/// SQL text — not through a literal, not through `init(stringLiteral:)`, not through
/// `appendLiteral`. Every interpolated value becomes the next `$n` parameter, typed by its
/// `PostgresEncodable` conformance; `nil` becomes SQL NULL of the wrapped type.
/// There is deliberately no escape hatch for raw SQL: migration files, the only SQL that is
/// not a literal, run through an internal path.
public struct SQLQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public typealias StringLiteralType = StaticString

    /// The SQL text with `$1`, `$2`, … where the values go.
    public private(set) var sql: String
    /// The values, in parameter order.
    var bindings: PostgresBindings

    public init(stringLiteral value: StaticString) {
        self.sql = value.description
        self.bindings = PostgresBindings()
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.bindings = stringInterpolation.bindings
    }

    /// For SQL the library itself trusts (migration bookkeeping); never public.
    init(trustedSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
        self.sql = sql
        self.bindings = bindings
    }

    /// A SELECT without a locking clause: its first word is SELECT, no word is FOR (as in FOR
    /// UPDATE or FOR SHARE, wherever it stands, so text that merely holds the word counts too),
    /// and it holds no comment. Letters in any case. Only such statements may be sent as reads
    /// (`PostgresPool.read`); a WITH, which may modify data, may not.
    public var isPlainSelect: Bool {
        let select: UInt64 = 0x73_65_6C_65_63_74  // "select", one byte per letter
        let forWord: UInt64 = 0x66_6F_72  // "for"
        var word: UInt64 = 0
        var length = 0
        var isFirstWord = true
        /// Judges the word just ended; false when it rules the statement out.
        func wordEnded() -> Bool {
            defer { word = 0; length = 0 }
            guard length > 0 else { return true }
            if isFirstWord {
                isFirstWord = false
                return length == 6 && word == select
            }
            return !(length == 3 && word == forWord)
        }
        var previous: UInt8 = 0
        for byte in sql.utf8 {
            // `--` or `/*`: a comment, which could hide the first word.
            if (previous == 0x2D && byte == 0x2D) || (previous == 0x2F && byte == 0x2A) { return false }
            previous = byte
            let isWordByte = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x5F || byte == 0x24 || byte >= 0x80
            if isWordByte {
                length += 1
                if length <= 8 { word = word << 8 | UInt64(byte | 0x20) }  // lower-cases letters, changes no other byte into one
            } else if !wordEnded() {
                return false
            }
        }
        guard wordEnded() else { return false }
        return !isFirstWord
    }

    /// The number of bind parameters.
    public var parameterCount: Int { bindings.count }

    /// The SQL text and the parameter types; values are left out, as they may be secrets.
    public var description: String {
        bindings.count == 0 ? sql : "\(sql) [\(bindings.types.map { PostgresDataType($0).name }.joined(separator: ", "))]"
    }

    /// Builds a query from literal SQL segments and bound values.
    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        public typealias StringLiteralType = StaticString

        var sql: String
        var bindings: PostgresBindings

        public init(literalCapacity: Int, interpolationCount: Int) {
            self.sql = ""
            self.sql.reserveCapacity(literalCapacity + 3 * interpolationCount)
            self.bindings = PostgresBindings(capacity: interpolationCount)
        }

        public mutating func appendLiteral(_ literal: StaticString) {
            sql.append(literal.description)
        }

        /// Binds `value` as the next parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            bindings.append(value)
            appendPlaceholder()
        }

        /// Binds `value` as the next parameter, or SQL NULL (typed as `Value`) when it is nil.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            if let value {
                bindings.append(value)
            } else {
                bindings.appendNull(Value.postgresDataType)
            }
            appendPlaceholder()
        }

        private mutating func appendPlaceholder() {
            sql.append("$")
            sql.append(String(bindings.count))
        }
    }
}

/// The bind parameters of a query, laid out the way `PQexecParams` wants them:
/// one contiguous byte buffer and parallel arrays of types, formats, offsets and lengths.
struct PostgresBindings: Sendable {
    var types: [UInt32] = []
    var formats: [Int32] = []
    /// Start of each value in `bytes`; unused for NULL.
    var offsets: [Int] = []
    /// Byte length of each value; -1 for NULL. Text-format values carry a NUL after their
    /// bytes (libpq reads text parameters as C strings) that this length does not count.
    var lengths: [Int32] = []
    var bytes: [UInt8] = []

    init() {}

    init(capacity: Int) {
        types.reserveCapacity(capacity)
        formats.reserveCapacity(capacity)
        offsets.reserveCapacity(capacity)
        lengths.reserveCapacity(capacity)
        bytes.reserveCapacity(16 * capacity)
    }

    var count: Int { types.count }

    mutating func append<Value: PostgresEncodable>(_ value: Value) {
        let start = bytes.count
        value.encode(into: &bytes)
        let length = bytes.count - start
        if Value.postgresFormat == .text { bytes.append(0) }
        types.append(Value.postgresDataType.rawValue)
        formats.append(Value.postgresFormat.rawValue)
        offsets.append(start)
        lengths.append(Int32(truncatingIfNeeded: length))
    }

    mutating func appendNull(_ type: PostgresDataType) {
        types.append(type.rawValue)
        formats.append(PostgresFormat.binary.rawValue)
        offsets.append(bytes.count)
        lengths.append(-1)
    }
}
