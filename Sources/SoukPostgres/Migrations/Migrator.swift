import Foundation
import Logging

/// Where one migration stands in a database.
public struct MigrationStatus: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Applied, and the file still matches.
        case applied(at: Date)
        /// Not applied yet.
        case pending
        /// Applied, but the file changed since: `up()` refuses to run.
        case changed(appliedChecksum: String)
        /// Applied, but no file describes it.
        case missingFile
    }

    public let version: Int
    public let name: String
    /// Nil for `.missingFile`.
    public let fileName: String?
    public let state: State
}

/// Applies a service's migrations to its database, the Alembic role.
///
/// Every applied migration is recorded in `schema_migrations (version, name, checksum,
/// applied_at)`, its checksum the SHA-256 of the file (computed by the server's `sha256()`,
/// so nothing here hand-rolls a hash). `up()` holds a session advisory lock for its whole
/// run, so replicas starting at once take turns: the first applies, the others find
/// nothing left to do.
///
/// `up()` is what a service runs on start and `souk migrate <service> up` runs; `status()`
/// and `dryRun()` back `souk migrate <service> status` and `--dry-run`.
public struct Migrator: Sendable {
    public let pool: PostgresPool
    public let migrations: [Migration]
    /// The schema the migrations and their bookkeeping table live in; nil: the connection's
    /// default (`public`).
    public let schema: String?
    let logger: Logger

    public init(pool: PostgresPool, migrations: [Migration], schema: String? = nil,
                logger: Logger = Logger(label: "souk.postgres.migrations")) throws {
        if let schema {
            // Spliced into SQL text below, so it must be a plain identifier.
            guard let first = schema.unicodeScalars.first, first == "_" || ("a" ... "z").contains(first), schema.count <= 63,
                  schema.unicodeScalars.allSatisfy({ $0 == "_" || ("a" ... "z").contains($0) || ("0" ... "9").contains($0) })
            else { throw MigrationError.invalidSchemaName(schema) }
        }
        self.pool = pool
        self.migrations = try Migration.validated(migrations)
        self.schema = schema
        self.logger = logger
    }

    private var table: String { schema.map { "\"\($0)\".schema_migrations" } ?? "schema_migrations" }

    /// Every migration, file or database, by version, with its state.
    public func status() async throws -> [MigrationStatus] {
        try await pool.withConnection { connection in
            let applied = try await appliedMigrations(connection)
            let checksums = try await fileChecksums(connection)
            return report(applied: applied, checksums: checksums)
        }
    }

    /// The migrations `up()` would apply, in order, without applying them. Throws as `up()`
    /// would for a changed or missing file.
    public func dryRun() async throws -> [Migration] {
        try await pool.withConnection { connection in
            let applied = try await appliedMigrations(connection)
            let checksums = try await fileChecksums(connection)
            return try plan(applied: applied, checksums: checksums)
        }
    }

    /// Applies every pending migration, each in a transaction of its own, and returns them.
    /// Refuses (before applying anything) when an applied migration's file changed or is gone.
    @discardableResult
    public func up() async throws -> [Migration] {
        try await pool.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock(hashtextextended(\(lockName), 0))")
            do {
                let applied = try await migrateLocked(connection)
                try await connection.script("SELECT pg_advisory_unlock_all()", cancellable: false)
                return applied
            } catch {
                // Not cancellable: a lock left behind would stall every later migrator.
                _ = try? await connection.script("SELECT pg_advisory_unlock_all()", cancellable: false)
                throw error
            }
        }
    }

    private var lockName: String { "souk.schema_migrations:\(schema ?? "")" }

    private func migrateLocked(_ connection: PostgresConnection) async throws -> [Migration] {
        if let schema {
            try await connection.script("CREATE SCHEMA IF NOT EXISTS \"\(schema)\"", cancellable: true)
        }
        try await connection.script("""
            CREATE TABLE IF NOT EXISTS \(table) (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, cancellable: true)
        let applied = try await appliedMigrations(connection)
        let checksums = try await fileChecksums(connection)
        let pending = try plan(applied: applied, checksums: checksums)
        if let highest = applied.keys.max(), let first = pending.first, first.version < highest {
            logger.warning("applying a migration older than the newest applied one", metadata: ["file": "\(first.fileName)"])
        }
        for migration in pending {
            try await apply(migration, checksum: checksums[migration.version]!, on: connection)
        }
        return pending
    }

    private func apply(_ migration: Migration, checksum: String, on connection: PostgresConnection) async throws {
        logger.info("applying migration", metadata: ["file": "\(migration.fileName)", "schema": "\(schema ?? "default")"])
        do {
            try await connection.script("BEGIN", cancellable: true)
            if let schema {
                try await connection.script("SET LOCAL search_path TO \"\(schema)\"", cancellable: true)
            }
            try await connection.script(migration.sql, cancellable: true)
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(Int64(migration.version))
            bindings.append(migration.name)
            bindings.append(checksum)
            _ = try await connection.query(SQLQuery(
                trustedSQL: "INSERT INTO \(table) (version, name, checksum) VALUES ($1, $2, $3)", bindings: bindings))
            try await connection.script("COMMIT", cancellable: false)
        } catch {
            _ = try? await connection.script("ROLLBACK", cancellable: false)
            if let error = error as? PostgresError { throw MigrationError.failed(fileName: migration.fileName, underlying: error) }
            throw error
        }
    }

    private struct Applied {
        let name: String
        let checksum: String
        let appliedAt: Date
    }

    private func appliedMigrations(_ connection: PostgresConnection) async throws -> [Int: Applied] {
        let exists = try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL")
        guard try exists[0].decode(0, as: Bool.self) else { return [:] }
        let rows = try await connection.query(SQLQuery(trustedSQL: "SELECT version, name, checksum, applied_at FROM \(table)"))
        var applied: [Int: Applied] = [:]
        for row in rows {
            let (version, name, checksum, appliedAt) = try row.decode((Int64, String, String, Date).self)
            applied[Int(version)] = Applied(name: name, checksum: checksum, appliedAt: appliedAt)
        }
        return applied
    }

    /// SHA-256 of each file's bytes, hex, by version.
    private func fileChecksums(_ connection: PostgresConnection) async throws -> [Int: String] {
        var checksums: [Int: String] = [:]
        for migration in migrations {
            let rows = try await connection.query("SELECT encode(sha256(\(Array(migration.sql.utf8))), 'hex')")
            checksums[migration.version] = try rows[0].decode(0, as: String.self)
        }
        return checksums
    }

    private func plan(applied: [Int: Applied], checksums: [Int: String]) throws -> [Migration] {
        let files = Set(migrations.map(\.version))
        if let missing = applied.keys.sorted().first(where: { !files.contains($0) }) {
            throw MigrationError.appliedMigrationMissing(version: missing, name: applied[missing]!.name)
        }
        for migration in migrations {
            if let record = applied[migration.version], record.checksum != checksums[migration.version] {
                throw MigrationError.checksumMismatch(fileName: migration.fileName, version: migration.version,
                                                      appliedChecksum: record.checksum,
                                                      fileChecksum: checksums[migration.version] ?? "?")
            }
        }
        return migrations.filter { applied[$0.version] == nil }
    }

    private func report(applied: [Int: Applied], checksums: [Int: String]) -> [MigrationStatus] {
        var statuses = migrations.map { migration -> MigrationStatus in
            let state: MigrationStatus.State
            if let record = applied[migration.version] {
                state = record.checksum == checksums[migration.version]
                    ? .applied(at: record.appliedAt) : .changed(appliedChecksum: record.checksum)
            } else {
                state = .pending
            }
            return MigrationStatus(version: migration.version, name: migration.name, fileName: migration.fileName, state: state)
        }
        let files = Set(migrations.map(\.version))
        for (version, record) in applied where !files.contains(version) {
            statuses.append(MigrationStatus(version: version, name: record.name, fileName: nil, state: .missingFile))
        }
        return statuses.sorted { $0.version < $1.version }
    }
}
