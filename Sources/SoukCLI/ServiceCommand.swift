import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import SoukAuth
import SoukContracts
import SoukObservability
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

    /// Where development keys live (`souk keys dev` writes them): the fallback of every key
    /// setting, so that a local system runs with no key settings at all. (A task-local value so
    /// that a test can point it elsewhere.)
    @TaskLocal static var developmentKeysFolder = "var/keys"

    /// The file an option or variable names, else the development key file `var/keys/<name>`
    /// when it exists (said in a warning, since a deployment should name its keys).
    static func keyFile(_ value: String?, _ variable: String, option: String, development name: String) throws -> String {
        if let path = optional(value, variable) { return path }
        let fallback = "\(developmentKeysFolder)/\(name)"
        guard access(fallback, R_OK) == 0 else {
            throw ValidationError("""
                missing setting: pass \(option), or set \(variable) (for a local system, `souk keys dev` \
                makes \(fallback), which is used when neither is given)
                """)
        }
        var logger = Logger(label: "souk.settings")
        logger.logLevel = .warning
        logger.warning("using the development key file \(fallback): \(option) (\(variable)) is not set")
        return fallback
    }

    /// A signing key from the file an option or variable names (else the development one).
    static func signingKey(_ value: String?, _ variable: String, option: String, development name: String) throws -> SigningKey {
        let path = try keyFile(value, variable, option: option, development: name)
        do {
            return try SigningKey(fileContents: readPrivateKey(path))
        } catch let error as AuthError {
            throw ValidationError("\(path) (\(option)): \(error.message)")
        }
    }

    /// Verification keys from the file an option or variable names (else the development one).
    static func verificationKeys(_ value: String?, _ variable: String, option: String,
                                 development name: String) throws -> [VerificationKey] {
        let path = try keyFile(value, variable, option: option, development: name)
        do {
            return try VerificationKey.keys(fromFileContents: read(path))
        } catch let error as AuthError {
            throw ValidationError("\(path) (\(option)): \(error.message)")
        }
    }

    /// `host:port,host:port`: the endpoints of a service's replicas, from the option, else the
    /// variable, else `fallback` (the service's default local address).
    static func endpoints(_ value: String?, _ variable: String, option: String, fallback: String) throws -> [RPCClient.Endpoint] {
        let text = optional(value, variable) ?? fallback
        do {
            return try RPCClient.Endpoint.list(parsing: text)
        } catch {
            throw ValidationError("\(option) (\(variable)): \"\(error.part)\" is not host:port; give one or more, joined by commas")
        }
    }
}

/// The options every service command shares: where it listens, its database, its server limits,
/// its admin port and its logs.
public struct ServiceOptions: ParsableArguments {
    @Option(help: "The address to listen on (else SOUK_<SERVICE>_ADDRESS's host; default 127.0.0.1).") public var host: String?
    @Option(help: """
        The port to listen on (else SOUK_<SERVICE>_ADDRESS's port; default users 50051, orders 50052, payments 50053; \
        0: any free port).
        """)
    public var port: Int?
    @Option(help: """
        host:port of the admin HTTP server: /healthz, /readyz, /metrics (else SOUK_<SERVICE>_ADMIN_ADDRESS; \
        default 127.0.0.1 and port users 8081, orders 8082, payments 8083; port 0: any free port).
        """)
    public var adminAddress: String?
    @Flag(help: "Serve no admin HTTP port.") public var noAdmin = false
    @Option(help: "The service's PostgreSQL URL (else SOUK_<SERVICE>_DATABASE_URL).") public var databaseURL: String?
    @Option(help: """
        Connections to the database at most (else SOUK_<SERVICE>_DATABASE_CONNECTIONS; default: the cores, at least 2; \
        for orders half the cores, at least 1).
        """)
    public var databaseConnections: Int?
    @Flag(help: "Do not apply pending migrations at start.") public var noMigrate = false
    @OptionGroup(title: "Logs") public var logs: LogOptions
    @OptionGroup(title: "RPC server limits") public var server: RPCServerOptions

    public init() {}
}

/// Runs one service until SIGTERM or SIGINT: opens its database pool, applies its pending
/// migrations (unless told not to), serves `services` over RPC and its admin HTTP port, then
/// shuts down gracefully.
struct ServiceRunner {
    /// `users`, `orders`, `payments`: the log label, the settings' variables.
    let name: String
    let options: ServiceOptions
    /// From --host/--port, else SOUK_<NAME>_ADDRESS, else 127.0.0.1 and the service's port.
    let listen: RPCClient.Endpoint
    /// From --admin-address, else SOUK_<NAME>_ADMIN_ADDRESS, else 127.0.0.1 and the service's
    /// admin port; nil with --no-admin.
    let admin: RPCClient.Endpoint?
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

    /// The local addresses of the services and their admin ports, which `souk dev`, the
    /// gateway and the peers' defaults rely on.
    static let defaultPorts: [String: (rpc: Int, admin: Int)] = [
        "users": (50051, 8081), "orders": (50052, 8082), "payments": (50053, 8083),
    ]

    /// A service's default RPC address, `127.0.0.1:<its port>`: where its peers look by default.
    static func defaultAddress(of service: String) -> String { "127.0.0.1:\(defaultPorts[service]!.rpc)" }

    /// Reads every setting the runner owns and bootstraps the process's logging, so that a
    /// bad setting is named before anything starts.
    init(name: String, defaultDatabaseConnections: Int = ServiceRunner.defaultDatabaseConnections,
         options: ServiceOptions) throws {
        self.name = name
        self.options = options
        try options.logs.bootstrap()
        let upper = name.uppercased()
        let ports = Self.defaultPorts[name] ?? (0, 0)
        listen = try Self.address(host: options.host, port: options.port, variable: "SOUK_\(upper)_ADDRESS",
                                  option: "--host/--port", fallback: ports.rpc)
        admin = options.noAdmin ? nil
            : try Self.address(text: options.adminAddress, variable: "SOUK_\(upper)_ADMIN_ADDRESS", option: "--admin-address",
                               fallback: ports.admin)
        let prefix = "SOUK_\(upper)_DATABASE"
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

    /// A listening address from --host/--port, each overriding its part of the variable's
    /// `host:port`, else 127.0.0.1 and `fallback`.
    static func address(host: String?, port: Int?, variable: String, option: String, fallback: Int) throws -> RPCClient.Endpoint {
        var address = try Self.address(text: nil, variable: variable, option: option, fallback: fallback)
        if let host { address = RPCClient.Endpoint(host: host, port: address.port) }
        if let port {
            guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0 to 65535, not \(port)") }
            address = RPCClient.Endpoint(host: address.host, port: port)
        }
        return address
    }

    /// One `host:port` to listen on from the option, else the variable, else 127.0.0.1 and
    /// `fallback`; port 0 is any free port.
    static func address(text: String?, variable: String, option: String, fallback: Int) throws -> RPCClient.Endpoint {
        guard let text = Setting.optional(text, variable) else { return RPCClient.Endpoint(host: "127.0.0.1", port: fallback) }
        guard let address = RPCClient.Endpoint(parsing: text, ports: 0...65_535) else {
            throw ValidationError("\(option) (\(variable)) must be host:port to listen on (port 0 to 65535), not \(text)")
        }
        return address
    }

    var logger: Logger { Logger(label: "souk.\(name)") }

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
        // Before any metric is made: swift-metrics reports to the process's registry from now on.
        let registry = ProcessMetrics.registry
        let pool = try PostgresPool(url: databaseURL, applicationName: "souk-\(name)",
                                    options: .init(maxConnections: databaseConnections), logger: logger)
        if !options.noMigrate {
            let applied = try await Migrator(pool: pool, migrations: migrations, logger: logger).up()
            for migration in applied { logger.info("applied migration", metadata: ["file": "\(migration.fileName)"]) }
        }
        let made = try await parts(pool, logger)
        var configuration = options.server.configuration(host: listen.host, port: listen.port)
        configuration.interceptors = [ServerLoggingInterceptor(logger: logger), MetricsInterceptor()]
        configuration.descriptorSets = [SoukContractDescriptors.fileDescriptorSet]
        let server = RPCServer(services: made.handlers, configuration: configuration, logger: logger)
        let (name, listen) = (self.name, self.listen)
        Task {
            if let address = try? await server.listeningAddress {
                logger.notice("\(name) service listening", metadata: ["address": "\(listen.host):\(address.port ?? listen.port)"])
            }
        }
        var front: [any Service] = [server]
        if let admin {
            front.append(AdminServer(host: admin.host, port: admin.port, registry: registry, logger: logger) {
                await Self.readiness(server: server, pool: pool)
            })
        }
        // A service group stops its services last to first, each after the one before has
        // finished: the server (and the admin port) drain first, then the background work, then
        // the pool, and the clients to other services close last, so that calls in flight can
        // still reach them.
        let closers: [any Service] = clients.map(RPCClientCloser.init)
        let group = ServiceGroup(services: closers + [pool] + made.background + front,
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }

    /// Ready when the RPC server is serving (not draining) and the database answers within two seconds.
    static func readiness(server: RPCServer, pool: PostgresPool) async -> Readiness {
        var problems: [String] = []
        if server.health.status(of: "") != .serving { problems.append("the RPC server is shutting down") }
        let answered = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    _ = try await pool.query("SELECT 1")
                    return nil
                } catch {
                    return "database: \(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(2))
                return "database: no answer to SELECT 1 within 2 s"
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        if let problem = answered { problems.append(problem) }
        return Readiness(problems: problems)
    }
}
