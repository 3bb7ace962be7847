import ArgumentParser
import Foundation
import Logging
import SoukCLI
import SoukPostgres
import SoukUsers
import Testing

@Suite("souk migrate", .serialized)
struct MigrateCommandTests {
    /// A URL whose connections work in a fresh schema of the test database.
    func withFreshSchema(_ body: (String, PostgresPool) async throws -> Void) async throws {
        guard let base = ProcessInfo.processInfo.environment["SOUK_TEST_DATABASE_URL"], !base.isEmpty else {
            Issue.record("SOUK_TEST_DATABASE_URL is not set: run Tools/test")
            return
        }
        let schema = "cli_\(UUID().uuidString.prefix(8).lowercased())"
        let url = base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
        var logger = Logger(label: "souk.cli.tests")
        logger.logLevel = .critical
        let pool = try PostgresPool(url: url, logger: logger)
        // An empty migrator creates the schema.
        _ = try await Migrator(pool: pool, migrations: [], schema: schema, logger: logger).up()
        do {
            try await body(url, pool)
        } catch {
            await pool.shutdown()
            throw error
        }
        await pool.shutdown()
    }

    func run(_ arguments: [String]) async throws {
        var command = try SoukCommand.parseAsRoot(arguments)
        guard var command = command as? AsyncParsableCommand else { return try command.run() }
        try await command.run()
    }

    @Test("up applies the users migrations once; status and a dry run then have nothing pending")
    func applyUsersMigrations() async throws {
        try await withFreshSchema { url, pool in
            try await run(["migrate", "users", "status", "--database-url", url])
            try await run(["migrate", "users", "up", "--dry-run", "--database-url", url])
            #expect(try await pool.query("SELECT to_regclass('users') IS NULL")[0].decode(0, as: Bool.self))
            try await run(["migrate", "users", "--database-url", url])
            let applied = try await pool.query("SELECT count(*) FROM schema_migrations")[0].decode(0, as: Int64.self)
            #expect(applied == Int64(try UsersServiceHandler.migrations().count))
            try await run(["migrate", "users", "up", "--database-url", url])
            #expect(try await pool.query("SELECT count(*) FROM schema_migrations")[0].decode(0, as: Int64.self) == applied)
            let status = try await Migrator(pool: pool, migrations: UsersServiceHandler.migrations()).status()
            #expect(status.allSatisfy { if case .applied = $0.state { true } else { false } })
        }
    }

    @Test("an unknown service, an unreachable database and an unknown direction are refused with a reason")
    func refusals() async throws {
        await #expect(throws: (any Error).self) { try await run(["migrate", "inventory", "--database-url", "postgres://x@127.0.0.1/x"]) }
        await #expect(throws: (any Error).self) { try await run(["migrate", "payments", "--database-url", "postgres://x@127.0.0.1:1/x"]) }
        #expect(throws: (any Error).self) { _ = try SoukCommand.parseAsRoot(["migrate", "users", "sideways"]) }
    }
}
