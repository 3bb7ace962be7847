import ArgumentParser
import Foundation
import Logging
import SoukPostgres
import SoukOrders
import SoukPayments
import SoukUsers

/// `souk migrate <service> [status|up] [--dry-run]`: the versioned migrations of one service's database.
public struct MigrateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Show or apply the database migrations of a service.",
        discussion: """
            The database comes from --database-url, or else SOUK_<SERVICE>_DATABASE_URL \
            (for the local cluster: export SOUK_USERS_DATABASE_URL=$(Tools/dev-db url users)).
            Applying holds an advisory lock, so two migrators at once end up correct.
            """)

    public enum Action: String, ExpressibleByArgument, CaseIterable, Sendable {
        case status, up
    }

    @Argument(help: "The service whose database to migrate: users, orders or payments.")
    public var service: String

    @Argument(help: "status: list every migration and whether it is applied; up: apply the pending ones.")
    public var action: Action = .up

    @Flag(help: "With up: list what would be applied, apply nothing.")
    public var dryRun = false

    @Option(help: "The service's PostgreSQL URL (postgres://user:password@host:port/database).")
    public var databaseURL: String?

    public init() {}

    /// The migrations each service ships.
    static func migrations(of service: String) throws -> [Migration] {
        switch service {
        case "users": return try UsersServiceHandler.migrations()
        case "orders": return try OrdersServiceHandler.migrations()
        case "payments": return try PaymentsServiceHandler.migrations()
        default:
            throw ValidationError("unknown service \"\(service)\": expected users, orders or payments")
        }
    }

    static func describe(_ state: MigrationStatus.State) -> String {
        switch state {
        case .applied(let at): "applied \(at)"
        case .pending: "pending"
        case .changed: "CHANGED since it was applied: restore the file, or add a new migration instead"
        case .missingFile: "applied, but its file is missing"
        }
    }

    public func run() async throws {
        let migrations = try Self.migrations(of: service)
        let variable = "SOUK_\(service.uppercased())_DATABASE_URL"
        guard let url = databaseURL ?? ProcessInfo.processInfo.environment[variable], !url.isEmpty else {
            throw ValidationError("no database: pass --database-url, or set \(variable)")
        }
        var logger = Logger(label: "souk.migrate")
        logger.logLevel = .warning
        let pool = try PostgresPool(url: url, applicationName: "souk-migrate", logger: logger)
        defer { Task { await pool.shutdown() } }
        let migrator = try Migrator(pool: pool, migrations: migrations, logger: logger)
        let output: [String]
        switch (action, dryRun) {
        case (.status, _):
            output = try await migrator.status().map { "\($0.version)\t\($0.name)\t\(Self.describe($0.state))" }
        case (.up, true):
            let pending = try await migrator.dryRun()
            output = pending.isEmpty ? ["nothing to apply"] : pending.map { "would apply \($0.fileName)" }
        case (.up, false):
            let applied = try await migrator.up()
            output = applied.isEmpty ? ["up to date"] : applied.map { "applied \($0.fileName)" }
        }
        await pool.shutdown()
        for line in output { print(line) }
    }
}
