import Foundation
import Logging
import SoukPostgres

/// A schema of its own in the test database (`SOUK_TEST_DATABASE_URL`) for one test, with a
/// service's migrations applied; dropped when the test ends, however it ends.
public enum TestSchema {
    /// A logger that stays quiet unless something is badly wrong.
    public static var logger: Logger {
        var logger = Logger(label: "souk.tests")
        logger.logLevel = .critical
        return logger
    }

    /// The test database's URL; nil (and a recorded reason) when it is not set.
    public static var baseURL: String? {
        guard let url = ProcessInfo.processInfo.environment["SOUK_TEST_DATABASE_URL"], !url.isEmpty else { return nil }
        return url
    }

    /// The message for a run without the test database.
    public static let missingDatabase =
        "SOUK_TEST_DATABASE_URL is not set: run Tools/test, or Tools/dev-db start && export SOUK_TEST_DATABASE_URL=$(Tools/dev-db url test)"

    /// Runs `body` with a pool whose every connection works in a new schema named `<prefix>_<random>`,
    /// migrated with `migrations`; `body` gets the pool and the URL that reaches the schema.
    public static func with(prefix: String, migrations: [Migration], baseURL: String,
                            _ body: (_ pool: PostgresPool, _ url: String) async throws -> Void) async throws {
        let schema = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try PostgresPool(url: baseURL, applicationName: "souk_tests", logger: logger)
        let url = baseURL + (baseURL.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
        let pool = try PostgresPool(url: url, applicationName: "souk_tests", logger: logger)
        do {
            // The migrator creates the schema; every connection of `pool` works in it.
            _ = try await Migrator(pool: pool, migrations: migrations, schema: schema, logger: logger).up()
            try await body(pool, url)
        } catch {
            await pool.shutdown()
            try? await drop(schema, admin: admin)
            await admin.shutdown()
            throw error
        }
        await pool.shutdown()
        try await drop(schema, admin: admin)
        await admin.shutdown()
    }

    /// SQL text cannot hold a name built at run time, so a session-local function takes it as a parameter.
    static func drop(_ schema: String, admin: PostgresPool) async throws {
        try await admin.transaction { tx in
            _ = try await tx.execute("""
                CREATE FUNCTION pg_temp.souk_drop_schema(name text) RETURNS void LANGUAGE plpgsql AS
                $$ BEGIN EXECUTE format('DROP SCHEMA %I CASCADE', name); END $$
                """)
            _ = try await tx.query("SELECT pg_temp.souk_drop_schema(\(schema))")
        }
    }
}
