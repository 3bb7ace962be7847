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
        // The suites run in parallel: the outermost schema of a test waits for a turn, so
        // that the connections of every test at once stay within the cluster's limit.
        if insideTurn {
            try await withSchema(prefix: prefix, migrations: migrations, baseURL: baseURL, body)
        } else {
            await turns.enter()
            do {
                try await $insideTurn.withValue(true) {
                    try await withSchema(prefix: prefix, migrations: migrations, baseURL: baseURL, body)
                }
            } catch {
                await turns.leave()
                throw error
            }
            await turns.leave()
        }
    }

    /// Tests holding schemas at once; each holds at most three schemas of five connections.
    static let turns = AsyncGate(limit: 10)
    @TaskLocal static var insideTurn = false

    private static func withSchema(prefix: String, migrations: [Migration], baseURL: String,
                                   _ body: (_ pool: PostgresPool, _ url: String) async throws -> Void) async throws {
        let schema = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        // Few connections per pool: the suites run in parallel, and a service test holds several
        // schemas at once, all within the cluster's max_connections.
        let admin = try PostgresPool(url: baseURL, applicationName: "souk_tests", options: .init(maxConnections: 1), logger: logger)
        let url = baseURL + (baseURL.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
        let pool = try PostgresPool(url: url, applicationName: "souk_tests", options: .init(maxConnections: 4), logger: logger)
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

/// At most `limit` holders between `enter` and `leave`; the others wait their turn, first
/// come first served.
actor AsyncGate {
    private let limit: Int
    private var inside = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func enter() async {
        if inside < limit {
            inside += 1
        } else {
            // The leaver hands its place over: `inside` stays the same.
            await withCheckedContinuation { waiting.append($0) }
        }
    }

    func leave() {
        if waiting.isEmpty { inside -= 1 } else { waiting.removeFirst().resume() }
    }
}
