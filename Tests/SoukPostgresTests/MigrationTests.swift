import Foundation
import Testing
@testable import SoukPostgres

/// Each test migrates a schema of its own, dropped afterwards.
private func withSchema<R>(_ pool: PostgresPool, _ body: (String) async throws -> R) async throws -> R {
    let schema = TestDatabase.uniqueName("mig")
    do {
        let result = try await body(schema)
        _ = try await pool.query(SQLQuery(trustedSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        return result
    } catch {
        _ = try? await pool.query(SQLQuery(trustedSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"))
        throw error
    }
}

private func count(_ table: String, in schema: String, on pool: PostgresPool) async throws -> Int64 {
    try await pool.query(SQLQuery(trustedSQL: "SELECT count(*) FROM \(schema).\(table)"))[0].decode(0, as: Int64.self)
}

/// Writes migration files into a fresh temporary folder.
private func migrationFolder(_ files: [String: String]) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("souk-migrations-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (name, sql) in files {
        try sql.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    return folder
}

@Suite("migrations")
struct MigrationTests {
    @Test("up applies the shipped migrations in order, records them, and a second up does nothing")
    func upAndStatus() async throws {
        try await TestDatabase.withPool { pool in
            try await withSchema(pool) { schema in
                let migrator = try Migrator(pool: pool, migrations: try Migration.load(bundle: .module), schema: schema,
                                            logger: TestDatabase.logger)
                #expect(try await migrator.status().map(\.state) == [.pending, .pending, .pending])
                #expect(try await migrator.dryRun().map(\.version) == [1, 2, 3])

                let applied = try await migrator.up()
                #expect(applied.map(\.fileName) == ["0001_create_widgets.sql", "0002_add_widget_price.sql", "0003_seed_widgets.sql"])
                #expect(try await count("widgets", in: schema, on: pool) == 2)
                #expect(try await count("schema_migrations", in: schema, on: pool) == 3)

                let records = try await pool.query(SQLQuery(trustedSQL: "SELECT version, name, checksum, applied_at FROM \(schema).schema_migrations ORDER BY version"))
                let first = try records[0].decode((Int64, String, String, Date).self)
                #expect(first.0 == 1 && first.1 == "create_widgets")
                #expect(first.2.count == 64, "a SHA-256 in hex")
                #expect(abs(first.3.timeIntervalSinceNow) < 60)

                #expect(try await migrator.up().isEmpty)
                #expect(try await migrator.dryRun().isEmpty)
                let states = try await migrator.status()
                #expect(states.allSatisfy { if case .applied = $0.state { true } else { false } })
                #expect(try await count("widgets", in: schema, on: pool) == 2, "the seed ran once")
            }
        }
    }

    @Test("a changed applied migration is refused, naming its file")
    func checksumMismatch() async throws {
        try await TestDatabase.withPool { pool in
            try await withSchema(pool) { schema in
                let folder = try migrationFolder([
                    "0001_create_things.sql": "CREATE TABLE things (id int PRIMARY KEY);",
                    "0002_more.sql": "CREATE TABLE more_things (id int PRIMARY KEY);",
                ])
                defer { try? FileManager.default.removeItem(at: folder) }
                _ = try await Migrator(pool: pool, migrations: Migration.load(directory: folder), schema: schema,
                                       logger: TestDatabase.logger).up()

                try "CREATE TABLE things (id bigint PRIMARY KEY);".write(
                    to: folder.appendingPathComponent("0001_create_things.sql"), atomically: true, encoding: .utf8)
                try "CREATE TABLE newest (id int);".write(
                    to: folder.appendingPathComponent("0003_newest.sql"), atomically: true, encoding: .utf8)
                let migrator = try Migrator(pool: pool, migrations: Migration.load(directory: folder), schema: schema,
                                            logger: TestDatabase.logger)
                let error = await #expect(throws: MigrationError.self) { try await migrator.up() }
                guard case .checksumMismatch(let fileName, let version, _, _)? = error else {
                    Issue.record("expected a checksum mismatch, got \(String(describing: error))")
                    return
                }
                #expect(fileName == "0001_create_things.sql" && version == 1)
                #expect(error!.description.contains("0001_create_things.sql"))
                await #expect(throws: MigrationError.self) { try await migrator.dryRun() }
                let states = try await migrator.status()
                #expect(states.count == 3)
                if case .changed = states[0].state {} else { Issue.record("status shows \(states[0].state)") }
                #expect(states[2].state == .pending)
                let newest = try await pool.query(SQLQuery(trustedSQL: "SELECT to_regclass('\(schema).newest') IS NULL"))
                #expect(try newest[0].decode(0, as: Bool.self), "nothing was applied after the refusal")
            }
        }
    }

    @Test("two migrators starting at once both end with every migration applied exactly once", .timeLimit(.minutes(1)))
    func concurrentMigrators() async throws {
        try await TestDatabase.withPool { first in
            try await TestDatabase.withPool { second in
                try await withSchema(first) { schema in
                    let folder = try migrationFolder([
                        "0001_slow.sql": "CREATE TABLE slow (id int PRIMARY KEY); SELECT pg_sleep(0.3);",
                        "0002_rows.sql": "INSERT INTO slow SELECT generate_series(1, 10);",
                        "0003_index.sql": "CREATE UNIQUE INDEX slow_copy ON slow (id);",
                    ])
                    defer { try? FileManager.default.removeItem(at: folder) }
                    let migrations = try Migration.load(directory: folder)
                    let a = try Migrator(pool: first, migrations: migrations, schema: schema, logger: TestDatabase.logger)
                    let b = try Migrator(pool: second, migrations: migrations, schema: schema, logger: TestDatabase.logger)
                    async let appliedByA = a.up()
                    async let appliedByB = b.up()
                    let (fromA, fromB) = try await (appliedByA, appliedByB)
                    #expect(fromA.count + fromB.count == 3, "A applied \(fromA.map(\.version)), B \(fromB.map(\.version))")
                    #expect(try await count("schema_migrations", in: schema, on: first) == 3)
                    #expect(try await count("slow", in: schema, on: first) == 10)
                    #expect(try await a.dryRun().isEmpty)
                    #expect(try await b.dryRun().isEmpty)
                }
            }
        }
    }

    @Test("a failing migration rolls back alone and stops the run, naming its file")
    func failingMigration() async throws {
        try await TestDatabase.withPool { pool in
            try await withSchema(pool) { schema in
                let folder = try migrationFolder([
                    "0001_good.sql": "CREATE TABLE good (id int);",
                    "0002_bad.sql": "CREATE TABLE half_done (id int); SELECT no_such_column FROM good;",
                    "0003_later.sql": "CREATE TABLE later (id int);",
                ])
                defer { try? FileManager.default.removeItem(at: folder) }
                let migrator = try Migrator(pool: pool, migrations: Migration.load(directory: folder), schema: schema,
                                            logger: TestDatabase.logger)
                let error = await #expect(throws: MigrationError.self) { try await migrator.up() }
                guard case .failed(let fileName, let underlying)? = error else {
                    Issue.record("expected a failed migration, got \(String(describing: error))")
                    return
                }
                #expect(fileName == "0002_bad.sql")
                #expect(underlying.sqlState == "42703")
                #expect(try await count("schema_migrations", in: schema, on: pool) == 1)
                let tables = try await pool.query(SQLQuery(trustedSQL: "SELECT to_regclass('\(schema).half_done') IS NULL, to_regclass('\(schema).later') IS NULL"))
                #expect(try tables[0].decode((Bool, Bool).self) == (true, true))
                // The advisory lock was let go: another run proceeds (and fails the same way).
                await #expect(throws: MigrationError.self) {
                    try await withTimeLimit(.seconds(10), "a second migrator") { try await migrator.up() }
                }
            }
        }
    }

    @Test("an applied migration with no file is reported, and up refuses")
    func missingFile() async throws {
        try await TestDatabase.withPool { pool in
            try await withSchema(pool) { schema in
                let folder = try migrationFolder(["0001_a.sql": "CREATE TABLE a (id int);", "0002_b.sql": "CREATE TABLE b (id int);"])
                defer { try? FileManager.default.removeItem(at: folder) }
                _ = try await Migrator(pool: pool, migrations: Migration.load(directory: folder), schema: schema,
                                       logger: TestDatabase.logger).up()
                try FileManager.default.removeItem(at: folder.appendingPathComponent("0002_b.sql"))
                let older = try Migrator(pool: pool, migrations: Migration.load(directory: folder), schema: schema,
                                         logger: TestDatabase.logger)
                #expect(try await older.status().last?.state == .missingFile)
                await #expect(throws: MigrationError.self) { try await older.up() }
            }
        }
    }

    @Test("a schema name that is not a plain identifier is refused")
    func schemaNames() async throws {
        try await TestDatabase.withPool { pool in
            for bad in ["", "Public", "a-b", "x\"; DROP SCHEMA public; --", "1abc"] {
                #expect(throws: MigrationError.self) { try Migrator(pool: pool, migrations: [], schema: bad) }
            }
        }
    }
}
