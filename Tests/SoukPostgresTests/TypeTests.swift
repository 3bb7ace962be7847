import Foundation
import Testing
@testable import SoukPostgres

@Suite("types round-trip through a real server")
struct TypeTests {
    /// Stores each value in a temporary table column of `columnType` and reads it back, then
    /// also echoes it through `SELECT $1`, which exercises the parameter without a column.
    private func roundTrip<T: PostgresEncodable & PostgresDecodable>(
        _ values: [T?], column columnType: ColumnType, equal: (T, T) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await TestDatabase.withPool { pool in
            try await pool.withConnection { connection in
                switch columnType {
                case .text: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v text)")
                case .int2: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v int2)")
                case .int4: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v int4)")
                case .int8: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v int8)")
                case .bool: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v bool)")
                case .float8: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v float8)")
                case .bytea: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v bytea)")
                case .uuid: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v uuid)")
                case .timestamptz: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v timestamptz)")
                case .numeric: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v numeric)")
                case .jsonb: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v jsonb)")
                case .json: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v json)")
                case .varchar: try await connection.execute("CREATE TEMP TABLE roundtrip (id int PRIMARY KEY, v varchar(4000))")
                }
                for (index, value) in values.enumerated() {
                    let inserted = try await connection.execute("INSERT INTO roundtrip (id, v) VALUES (\(Int32(index)), \(value))")
                    #expect(inserted == 1, sourceLocation: sourceLocation)
                }
                let rows = try await connection.query("SELECT id, v FROM roundtrip ORDER BY id")
                #expect(rows.count == values.count, sourceLocation: sourceLocation)
                for row in rows {
                    let index = Int(try row.decode("id", as: Int32.self))
                    let stored = try row.decode("v", as: T?.self)
                    let echoed = try await connection.query("SELECT \(values[index]) AS v")[0].decode("v", as: T?.self)
                    for read in [stored, echoed] {
                        switch (read, values[index]) {
                        case (nil, nil): break
                        case let (read?, sent?):
                            #expect(equal(read, sent), "sent \(sent), read \(read)", sourceLocation: sourceLocation)
                        default:
                            Issue.record("sent \(String(describing: values[index])), read \(String(describing: read))",
                                         sourceLocation: sourceLocation)
                        }
                    }
                }
            }
        }
    }

    enum ColumnType { case text, varchar, int2, int4, int8, bool, float8, bytea, uuid, timestamptz, numeric, jsonb, json }

    static let strings: [String?] = [
        nil, "", " ", "plain", "ñandú", "日本語のテキスト", "👩‍👩‍👧 family", "e\u{301} combining", "עברית RTL",
        "\u{FFFD}\u{FFFF}", "tab\tnewline\nreturn\r", "quote ' double \" backslash \\",
        String(repeating: "long ", count: 700),
    ]

    @Test("String round-trips with NULL, empty, unicode and control characters", arguments: [ColumnType.text, .varchar])
    func strings(column: ColumnType) async throws {
        try await roundTrip(Self.strings, column: column, equal: ==)
    }

    @Test("SQL-injection strings are stored and read back verbatim, and harm nothing")
    func injectionStrings() async throws {
        let attacks: [String?] = [
            "'; DROP TABLE roundtrip; --", "Robert'); DROP TABLE Students;--", "' OR '1'='1", "\\'; SELECT pg_sleep(10); --",
            "$1", "$2 $1", "$$; DROP TABLE roundtrip; $$", "E'\\x00'", "/* comment */ SELECT 1", "'); COMMIT; BEGIN; --",
            "1; DELETE FROM roundtrip", "\"roundtrip\"", "%s %d {0}", "?",
        ]
        try await roundTrip(attacks, column: .text, equal: ==)
        try await TestDatabase.withPool { pool in
            let rows = try await pool.query("SELECT \("x' || 'y") AS v, \("$1") AS w")
            #expect(try rows[0].decode(("v"), as: String.self) == "x' || 'y")
            #expect(try rows[0].decode(1, as: String.self) == "$1")
        }
    }

    @Test("a string with a NUL byte is refused by the server, not cut short")
    func nulByte() async throws {
        try await TestDatabase.withPool { pool in
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT \("before\u{0}after")")
            }
            #expect(error?.sqlState == "22021")
        }
    }

    @Test("Int16, Int32 and Int64 round-trip at their extremes")
    func integers() async throws {
        try await roundTrip([nil, Int16.min, -1, 0, 1, Int16.max], column: .int2, equal: ==)
        try await roundTrip([nil, Int32.min, -1, 0, 1, Int32.max], column: .int4, equal: ==)
        try await roundTrip([nil, Int64.min, -1, 0, 1, Int64.max], column: .int8, equal: ==)
        try await roundTrip([nil, Int.min, 0, Int.max], column: .int8, equal: ==)
    }

    @Test("narrow integer columns widen into wider Swift integers")
    func integerWidening() async throws {
        try await TestDatabase.withPool { pool in
            let row = try await pool.query("SELECT 7::int2 AS a, (-8)::int4 AS b, 9::int8 AS c")[0]
            #expect(try row.decode("a", as: Int64.self) == 7)
            #expect(try row.decode("b", as: Int64.self) == -8)
            #expect(try row.decode("a", as: Int32.self) == 7)
            #expect(try row.decode("c", as: Int.self) == 9)
        }
    }

    @Test("Bool round-trips")
    func booleans() async throws {
        try await roundTrip([nil, true, false], column: .bool, equal: ==)
    }

    @Test("Double round-trips bit for bit, infinities and signed zero included")
    func doubles() async throws {
        let values: [Double?] = [nil, 0, -0.0, 1.5, -2.25, .pi, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                 .leastNormalMagnitude, .leastNonzeroMagnitude, .infinity, -.infinity, .nan, 0.1 + 0.2]
        try await roundTrip(values, column: .float8, equal: { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
    }

    @Test("[UInt8] round-trips as bytea, empty and all byte values included")
    func bytes() async throws {
        var large = [UInt8](repeating: 0, count: 1 << 20)
        for i in large.indices { large[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        try await roundTrip([nil, [], [0], Array(0 ... 255), [0, 0, 0], large], column: .bytea, equal: ==)
    }

    @Test("UUID round-trips")
    func uuids() async throws {
        let values: [UUID?] = [nil, UUID(), UUID(uuidString: "00000000-0000-0000-0000-000000000000"),
                               UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")]
        try await roundTrip(values, column: .uuid, equal: ==)
    }

    @Test("Date round-trips as timestamptz to the microsecond, before 1970 and 2000, and infinity")
    func dates() async throws {
        let values: [Date?] = [
            nil, Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 946_684_800),
            Date(timeIntervalSince1970: 1_700_000_000.123456), Date(timeIntervalSince1970: -1_234_567_890.654321),
            Date(timeIntervalSince1970: 253_402_300_799.999999), Date(timeIntervalSince1970: 946_684_799.999999),
            .distantFuture, .distantPast,
        ]
        let micros = { (date: Date) in Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
        try await roundTrip(values, column: .timestamptz, equal: { micros($0) == micros($1) })
    }

    @Test("a Date reads back as the instant PostgreSQL stored")
    func dateMatchesServerClock() async throws {
        try await TestDatabase.withPool { pool in
            let row = try await pool.query("SELECT '2024-02-29 12:34:56.789012+00'::timestamptz AS t, extract(epoch FROM '2024-02-29 12:34:56.789012+00'::timestamptz)::text AS e")[0]
            let date = try row.decode("t", as: Date.self)
            #expect(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) == 1_709_210_096_789_012)
        }
    }

    @Test("numeric round-trips exactly as decimal text")
    func numerics() async throws {
        let values: [PostgresNumeric?] = [
            nil, PostgresNumeric("0"), PostgresNumeric("-0.5"), PostgresNumeric("123456789012345678901234567890.123456789"),
            PostgresNumeric("0.00000000000000000001"), PostgresNumeric("10000"), PostgresNumeric("-9999.9999"),
            PostgresNumeric("1.10"), PostgresNumeric("NaN"), PostgresNumeric("Infinity"), PostgresNumeric("-Infinity"),
            PostgresNumeric(Decimal(string: "19.99")!), PostgresNumeric(Int64.min),
        ]
        try await roundTrip(values, column: .numeric, equal: ==)
        try await TestDatabase.withPool { pool in
            let row = try await pool.query("SELECT \(PostgresNumeric("1e3")!) AS a, 2.50::numeric(10,3) AS b")[0]
            #expect(try row.decode("a", as: PostgresNumeric.self).text == "1000")
            #expect(try row.decode("b", as: PostgresNumeric.self).text == "2.500")
            #expect(try row.decode("b", as: PostgresNumeric.self).decimal == Decimal(string: "2.5"))
        }
    }

    @Test("JSON text round-trips through jsonb and json columns")
    func json() async throws {
        // Already in jsonb's canonical form (keys by length, ", " and ": "), which jsonb keeps.
        let values: [PostgresJSON?] = [nil, PostgresJSON("{}"), PostgresJSON("[]"), PostgresJSON("null"), PostgresJSON("\"ü\""),
                                       PostgresJSON("{\"a\": 1, \"ü\": \"日本\", \"list\": [1, 2.5, null, true]}")]
        try await roundTrip(values, column: .jsonb, equal: ==)
        try await roundTrip(values, column: .json, equal: ==)
    }

    @Test("a type mismatch names the column, the Swift type and the PostgreSQL type")
    func typeMismatch() async throws {
        try await TestDatabase.withPool { pool in
            let row = try await pool.query("SELECT 42::int8 AS answer, NULL::text AS nothing, now() AS moment")[0]
            let mismatch = #expect(throws: PostgresDecodingError.self) { try row.decode("answer", as: String.self) }
            #expect(mismatch?.reason == .typeMismatch)
            #expect(mismatch?.postgresType == .int8)
            #expect(mismatch?.description.contains("\"answer\"") == true)
            #expect(mismatch?.description.contains("String") == true)
            #expect(mismatch?.description.contains("int8") == true)

            let narrowing = #expect(throws: PostgresDecodingError.self) { try row.decode(0, as: Int32.self) }
            #expect(narrowing?.description.contains("Int32") == true)

            let null = #expect(throws: PostgresDecodingError.self) { try row.decode("nothing", as: String.self) }
            #expect(null?.reason == .unexpectedNull)
            #expect(try row.decode("nothing", as: String?.self) == nil)

            let missing = #expect(throws: PostgresDecodingError.self) { try row.decode("no_such", as: Int64.self) }
            #expect(missing?.description.contains("answer, nothing, moment") == true)

            #expect(throws: PostgresDecodingError.self) { try row.decode("moment", as: UUID.self) }
        }
    }

    @Test("a row decodes as a tuple of its first columns")
    func tupleDecoding() async throws {
        try await TestDatabase.withPool { pool in
            let rows = try await pool.query("SELECT g::int8, 'n' || g, CASE WHEN g = 2 THEN NULL ELSE true END FROM generate_series(1, 3) AS g")
            let decoded = try rows.map { try $0.decode((Int64, String, Bool?).self) }
            #expect(decoded.map(\.0) == [1, 2, 3])
            #expect(decoded.map(\.1) == ["n1", "n2", "n3"])
            #expect(decoded.map(\.2) == [true, nil, true])
            #expect(rows.columns.map(\.dataType) == [.int8, .text, .bool])
        }
    }

    @Test("commands report the rows they affected")
    func affectedRows() async throws {
        try await TestDatabase.withPool { pool in
            try await pool.withConnection { connection in
                try await connection.execute("CREATE TEMP TABLE counted (n int)")
                #expect(try await connection.execute("INSERT INTO counted SELECT generate_series(1, 5)") == 5)
                #expect(try await connection.execute("UPDATE counted SET n = n + 1 WHERE n > \(Int32(2))") == 3)
                let deleted = try await connection.query("DELETE FROM counted")
                #expect(deleted.affectedRows == 5)
                #expect(deleted.commandTag == "DELETE 5")
                #expect(deleted.isEmpty)
            }
        }
    }
}
