import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import SoukAuth
import SoukPostgres
import SoukRPC
import SoukRPCCore

/// A setting of a service command: its option's value, or else its environment variable.
enum Setting {
    /// The value, or a ValidationError naming both ways to give it.
    static func required(_ value: String?, _ variable: String, option: String) throws -> String {
        guard let value = optional(value, variable) else {
            throw ValidationError("missing setting: pass \(option), or set \(variable)")
        }
        return value
    }

    /// The value, nil when neither gives one.
    static func optional(_ value: String?, _ variable: String) -> String? {
        guard let value = value ?? ProcessInfo.processInfo.environment[variable], !value.isEmpty else { return nil }
        return value
    }

    /// A private key's file, refused (as ssh does) when anyone but its owner may read it.
    static func readPrivateKey(_ path: String) throws -> String {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw ValidationError("""
                \(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): a private key must be \
                readable by its owner only. Fix it with: chmod 600 \(path)
                """)
        }
        return try read(path)
    }

    static func read(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// A signing key from the file an option or variable names.
    static func signingKey(_ value: String?, _ variable: String, option: String) throws -> SigningKey {
        let path = try required(value, variable, option: option)
        do {
            return try SigningKey(fileContents: readPrivateKey(path))
        } catch let error as AuthError {
            throw ValidationError("\(path) (\(option)): \(error.message)")
        }
    }

    /// Verification keys from the file an option or variable names.
    static func verificationKeys(_ value: String?, _ variable: String, option: String) throws -> [VerificationKey] {
        let path = try required(value, variable, option: option)
        do {
            return try VerificationKey.keys(fromFileContents: read(path))
        } catch let error as AuthError {
            throw ValidationError("\(path) (\(option)): \(error.message)")
        }
    }

    /// `host:port,host:port`: the endpoints of a service's replicas.
    static func endpoints(_ value: String?, _ variable: String, option: String) throws -> [RPCClient.Endpoint] {
        let text = try required(value, variable, option: option)
        do {
            return try RPCClient.Endpoint.list(parsing: text)
        } catch {
            throw ValidationError("\(option) (\(variable)): \"\(error.part)\" is not host:port; give one or more, joined by commas")
        }
    }
}

/// The options every service command shares: where it listens, its database, its server limits.
public struct ServiceOptions: ParsableArguments {
    @Option(help: "The address to listen on.") public var host = "127.0.0.1"
    @Option(help: "The port to listen on (0: any free port); each service has its own default.") public var port: Int?
    @Option(help: "The service's PostgreSQL URL (else SOUK_<SERVICE>_DATABASE_URL).") public var databaseURL: String?
    @Option(help: """
        Connections to the database at most (else SOUK_<SERVICE>_DATABASE_CONNECTIONS; default: the cores, at least 2; \
        for orders half the cores, at least 1).
        """)
    public var databaseConnections: Int?
    @Flag(help: "Do not apply pending migrations at start.") public var noMigrate = false
    @OptionGroup(title: "RPC server limits") public var server: RPCServerOptions

    public init() {}
}

/// Runs one service until SIGTERM or SIGINT: opens its database pool, applies its pending
/// migrations (unless told not to), serves `services` over RPC, then shuts down gracefully.
struct ServiceRunner {
    /// `users`, `orders`, `payments`: the log label, the database variables.
    let name: String
    let defaultPort: Int
    let options: ServiceOptions
    /// From --database-url or SOUK_<NAME>_DATABASE_URL.
    let databaseURL: String
    /// From --database-connections or SOUK_<NAME>_DATABASE_CONNECTIONS, else the service's
    /// default (``defaultDatabaseConnections`` unless it has reason to differ). The pool
    /// pipelines the statements queued for one connection, so a few busy connections serve
    /// more calls, with fewer threads woken per call, than many idle ones (Benchmarks/README.md).
    let databaseConnections: Int

    /// As many connections as the machine has cores, at least 2: room for a transaction that
    /// holds its connection while others go on.
    static var defaultDatabaseConnections: Int { max(2, ProcessInfo.processInfo.activeProcessorCount) }

    /// Reads the database settings, so that a bad one is named before anything starts.
    init(name: String, defaultPort: Int, defaultDatabaseConnections: Int = ServiceRunner.defaultDatabaseConnections,
         options: ServiceOptions) throws {
        self.name = name
        self.defaultPort = defaultPort
        self.options = options
        let prefix = "SOUK_\(name.uppercased())_DATABASE"
        databaseURL = try Setting.required(options.databaseURL, "\(prefix)_URL", option: "--database-url")
        if let text = options.databaseConnections.map(String.init) ?? Setting.optional(nil, "\(prefix)_CONNECTIONS") {
            guard let count = Int(text), (1...1000).contains(count) else {
                throw ValidationError("--database-connections (\(prefix)_CONNECTIONS) must be 1 to 1000, not \(text)")
            }
            databaseConnections = count
        } else {
            databaseConnections = defaultDatabaseConnections
        }
    }

    var logger: Logger {
        var logger = Logger(label: "souk.\(name)")
        logger.logLevel = .info
        return logger
    }

    /// What a service runs beside its database pool: its RPC handlers, and the background
    /// work (an outbox relay) that needs the pool until it has stopped.
    struct Parts {
        var handlers: [any RPCService]
        var background: [any Service] = []
    }

    func run(migrations: [Migration], clients: [RPCClient] = [],
             services: (PostgresPool, Logger) async throws -> [any RPCService]) async throws {
        try await run(migrations: migrations, clients: clients) { pool, logger in
            Parts(handlers: try await services(pool, logger))
        }
    }

    func run(migrations: [Migration], clients: [RPCClient] = [],
             parts: (PostgresPool, Logger) async throws -> Parts) async throws {
        let logger = self.logger
        let pool = try PostgresPool(url: databaseURL, applicationName: "souk-\(name)",
                                    options: .init(maxConnections: databaseConnections), logger: logger)
        if !options.noMigrate {
            let applied = try await Migrator(pool: pool, migrations: migrations, logger: logger).up()
            for migration in applied { logger.info("applied migration", metadata: ["file": "\(migration.fileName)"]) }
        }
        let port = options.port ?? defaultPort
        let made = try await parts(pool, logger)
        let server = RPCServer(services: made.handlers,
                               configuration: options.server.configuration(host: options.host, port: port), logger: logger)
        let (name, host) = (self.name, options.host)
        Task {
            if let address = try? await server.listeningAddress {
                logger.notice("\(name) service listening", metadata: ["address": "\(host):\(address.port ?? port)"])
            }
        }
        // A service group stops its services last to first, each after the one before has
        // finished: the server drains first, then the background work, then the pool, and the
        // clients to other services close last, so that calls in flight can still reach them.
        let closers: [any Service] = clients.map(RPCClientCloser.init)
        let group = ServiceGroup(services: closers + [pool] + made.background + [server],
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
