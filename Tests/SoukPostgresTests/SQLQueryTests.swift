import Foundation
import Testing
@testable import SoukPostgres

@Suite("queries, configuration and file names, without a server")
struct SQLQueryTests {
    @Test("interpolated values become numbered parameters and never SQL text")
    func interpolationBindsParameters() {
        let name = "x'); DROP TABLE users; --"
        let age: Int32? = nil
        let query: SQLQuery = "SELECT * FROM users WHERE name = \(name) AND age = \(age) AND id = \(Int64(7))"
        #expect(query.sql == "SELECT * FROM users WHERE name = $1 AND age = $2 AND id = $3")
        #expect(query.parameterCount == 3)
        #expect(query.bindings.types == [PostgresDataType.text.rawValue, PostgresDataType.int4.rawValue, PostgresDataType.int8.rawValue])
        #expect(query.bindings.lengths[1] == -1)
        #expect(!query.description.contains("DROP"), "values stay out of descriptions and logs")
    }

    @Test("a plain SELECT starts with SELECT and holds no word FOR and no comment, in any case")
    func plainSelects() {
        let plain: [SQLQuery] = [
            "SELECT 1", "select * from users where id = \(Int64(1))", "SELECT forecast, format FROM t", "Select\n  a\nFROM t",
            "SELECT * FROM t WHERE x IN (SELECT y FROM u)", "(SELECT 1)",
        ]
        let notPlain: [SQLQuery] = [
            "SELECT * FROM t FOR UPDATE", "SELECT * FROM t\nFOR SHARE", "select * from t for no key update", "SELECT * FROM t FOR KEY SHARE",
            "SELECT 'for'", "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "INSERT INTO t VALUES (1)",
            "SELECTED", "", "  ", "UPDATE t SET a = 1", "/* select */ DELETE FROM t", "-- select\nUPDATE t SET a = 1",
            "SELECT 1 -- a note",
        ]
        for query in plain { #expect(query.isPlainSelect, "\(query.sql)") }
        for query in notPlain { #expect(!query.isPlainSelect, "\(query.sql)") }
    }

    @Test("a query without interpolations is its literal")
    func plainLiteral() {
        let query: SQLQuery = "SELECT 1"
        #expect(query.sql == "SELECT 1")
        #expect(query.parameterCount == 0)
    }

    @Test("numeric text is validated the way PostgreSQL's numeric input is")
    func numericValidation() {
        for good in ["0", "-1", "+1.5", ".5", "5.", "1e10", "1.5E-3", "NaN", "Infinity", "-Infinity", "123456789012345678901234567890.000001"] {
            #expect(PostgresNumeric(good) != nil, "\(good)")
        }
        for bad in ["", "-", ".", "1e", "1.2.3", "abc", "1;DROP", " 1", "1 ", "0x10", "1e+"] {
            #expect(PostgresNumeric(bad) == nil, "\(bad)")
        }
    }

    @Test("numeric's binary form becomes exact decimal text")
    func numericBinaryDecoding() {
        func binary(_ ndigits: Int16, _ weight: Int16, _ sign: UInt16, _ dscale: Int16, _ digits: [Int16]) -> ArraySlice<UInt8> {
            var bytes: [UInt8] = []
            ndigits.appendBigEndian(to: &bytes)
            weight.appendBigEndian(to: &bytes)
            sign.appendBigEndian(to: &bytes)
            dscale.appendBigEndian(to: &bytes)
            digits.forEach { $0.appendBigEndian(to: &bytes) }
            return bytes[...]
        }
        #expect(PostgresNumeric.text(fromBinary: binary(0, 0, 0, 0, [])) == "0")
        #expect(PostgresNumeric.text(fromBinary: binary(2, 1, 0, 2, [12, 3456])) == "123456.00")
        #expect(PostgresNumeric.text(fromBinary: binary(2, 0, 0x4000, 4, [1, 5000])) == "-1.5000")
        #expect(PostgresNumeric.text(fromBinary: binary(1, -2, 0, 8, [1])) == "0.00000001")
        #expect(PostgresNumeric.text(fromBinary: binary(0, 0, 0xC000, 0, [])) == "NaN")
        #expect(PostgresNumeric.text(fromBinary: binary(1, 0, 0, 0, [10_000])) == nil, "a digit out of range is refused")
    }

    @Test("a URL's parts reach libpq, options override them, and the password stays out of descriptions")
    func configurationFromURL() throws {
        var config = try PostgresConfiguration(url: "postgres://alice:s3cret@db.internal:6543/orders?sslmode=disable&application_name=from-url")
        #expect(config.urlParameter("host") == "db.internal")
        #expect(config.urlParameter("port") == "6543")
        #expect(config.urlParameter("dbname") == "orders")
        #expect(config.urlParameter("user") == "alice")
        #expect(config.urlParameter("sslmode") == "disable")
        config.applicationName = "souk-orders"
        config.statementTimeout = .milliseconds(2500)
        let parameters = Dictionary(config.connectionParameters.map { ($0.keyword, $0.value) }, uniquingKeysWith: { $1 })
        #expect(parameters["application_name"] == "souk-orders")
        #expect(parameters["options"] == "-c statement_timeout=2500")
        #expect(parameters["client_encoding"] == "UTF8")
        #expect(parameters["connect_timeout"] == "5")
        #expect(!config.description.contains("s3cret"))
    }

    @Test("a unix-socket directory is accepted as ?host= or percent-encoded as the host")
    func unixSocketURLs() throws {
        let query = try PostgresConfiguration(url: "postgresql://bob@/payments?host=/var/run/postgresql")
        #expect(query.urlParameter("host") == "/var/run/postgresql")
        let encoded = try PostgresConfiguration(url: "postgres://bob@%2Fvar%2Frun%2Fpostgresql:5433/payments")
        #expect(encoded.urlParameter("host") == "/var/run/postgresql")
        #expect(encoded.urlParameter("port") == "5433")
    }

    @Test("something that is not a PostgreSQL URL is refused with a reason")
    func invalidURLs() {
        #expect(throws: PostgresError.self) { try PostgresConfiguration(url: "mysql://x@y/z") }
        #expect(throws: PostgresError.self) { try PostgresConfiguration(url: "host=localhost dbname=x") }
        #expect(throws: PostgresError.self) { try PostgresConfiguration(url: "postgres://x@y/z?no_such_option=1") }
    }

    @Test("migration files are NNNN_name.sql and their versions are unique")
    func migrationFileNames() throws {
        #expect(Migration.parse("0001_create_users.sql")! == (1, "create_users"))
        #expect(Migration.parse("12_add-index.sql")! == (12, "add-index"))
        #expect(Migration.parse("create_users.sql") == nil)
        #expect(Migration.parse("0001_.sql") == nil)
        #expect(Migration.parse("0001-create.sql") == nil)
        #expect(Migration.parse("0001_bad name.sql") == nil)
        let a = Migration(version: 1, name: "a", fileName: "0001_a.sql", sql: "")
        let b = Migration(version: 1, name: "b", fileName: "001_b.sql", sql: "")
        #expect(throws: MigrationError.self) { try Migration.validated([a, b]) }
    }

    @Test("the migrations shipped as a resource folder load in version order")
    func bundledMigrations() throws {
        let migrations = try Migration.load(bundle: .module)
        #expect(migrations.map(\.fileName) == ["0001_create_widgets.sql", "0002_add_widget_price.sql", "0003_seed_widgets.sql"])
        #expect(migrations.map(\.version) == [1, 2, 3])
    }
}
