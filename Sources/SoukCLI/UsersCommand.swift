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
import SoukUsers

/// `souk users`: runs the users service until SIGTERM or SIGINT.
public struct UsersCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Run the users service (RPC server), migrating its database first.",
        discussion: """
            Settings come from options, or else from the environment: SOUK_USERS_DATABASE_URL, \
            SOUK_USERS_SIGNING_KEY_FILE (the key access tokens are signed with: `<key id> <base64 seed>`, \
            see `souk keys new`; readable by its owner only), SOUK_USERS_PUBLIC_KEYS_FILE (optional: \
            the public keys of earlier signing keys, whose tokens stay valid until they expire, \
            e.g. after a rotation), SOUK_SERVICE_KEYS_FILE (public keys of the service credentials \
            internal rpcs accept: `<key id> <base64 public key>` per line).
            """)

    @Option(help: "The address to listen on.") public var host = "127.0.0.1"
    @Option(help: "The port to listen on (0: any free port).") public var port = 50051
    @Option(help: "The users database URL.") public var databaseURL: String?
    @Option(help: "The file of the key that signs access tokens.") public var signingKeyFile: String?
    @Option(help: "The file of the public keys of earlier signing keys still trusted (rotation).")
    public var usersPublicKeysFile: String?
    @Option(help: "The file of the public keys of trusted service credentials.") public var serviceKeysFile: String?
    @Flag(help: "Do not apply pending migrations at start.") public var noMigrate = false
    @OptionGroup(title: "RPC server limits") public var server: RPCServerOptions

    public init() {}

    static func setting(_ value: String?, _ variable: String) throws -> String {
        guard let value = value ?? ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            throw ValidationError("missing setting: pass it as an option, or set \(variable)")
        }
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

    public func run() async throws {
        var logger = Logger(label: "souk.users")
        logger.logLevel = .info
        let url = try Self.setting(databaseURL, "SOUK_USERS_DATABASE_URL")
        let signingKey = try SigningKey(fileContents: Self.readPrivateKey(try Self.setting(signingKeyFile, "SOUK_USERS_SIGNING_KEY_FILE")))
        var trustedUserKeys = [signingKey.verificationKey]
        if let file = usersPublicKeysFile ?? ProcessInfo.processInfo.environment["SOUK_USERS_PUBLIC_KEYS_FILE"], !file.isEmpty {
            trustedUserKeys += try VerificationKey.keys(fromFileContents: Self.read(file))
        }
        let serviceKeys = try VerificationKey.keys(fromFileContents: Self.read(try Self.setting(serviceKeysFile, "SOUK_SERVICE_KEYS_FILE")))

        let pool = try PostgresPool(url: url, applicationName: "souk-users", logger: logger)
        if !noMigrate {
            let applied = try await Migrator(pool: pool, migrations: UsersServiceHandler.migrations(), logger: logger).up()
            for migration in applied { logger.info("applied migration", metadata: ["file": "\(migration.fileName)"]) }
        }
        let handler = try await UsersServiceHandler(
            database: pool,
            configuration: .init(
                tokenIssuer: TokenIssuer(key: signingKey, issuer: "souk-users"),
                userTokens: TokenVerifier(issuer: "souk-users", keys: trustedUserKeys),
                serviceCredentials: ServiceCredentials.verifier(for: "souk-users", keys: serviceKeys)),
            logger: logger)
        let server = RPCServer(services: [handler], configuration: self.server.configuration(host: host, port: port), logger: logger)
        let (host, port, announcer) = (self.host, self.port, logger)
        Task {
            if let address = try? await server.listeningAddress {
                announcer.notice("users service listening", metadata: ["address": "\(host):\(address.port ?? port)"])
            }
        }
        let group = ServiceGroup(services: [server, pool], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// `souk keys new <id>`: a new Ed25519 key pair, for access tokens or service credentials.
public struct KeysCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Make signing keys.", subcommands: [New.self, Dev.self])

    public init() {}

    public struct New: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "new",
            abstract: "Write a new signing key (mode 600) and its public key.")

        @Argument(help: "The key id (`kid`), e.g. users-2026-11.") public var id: String
        @Option(help: "Where to write the signing key.") public var signingKeyOut: String
        @Option(help: "Where to append the public key line (created when missing).") public var publicKeyOut: String

        public init() {}

        public func run() async throws {
            try Self.write(try SigningKey.generate(id: id), signingKeyOut: signingKeyOut, publicKeyOut: publicKeyOut)
            print("wrote \(signingKeyOut) and \(publicKeyOut) for key \(id)")
        }

        /// Writes the signing key to a new file, created with mode 600 (never overwriting
        /// one), and appends its public key line to `publicKeyOut`.
        static func write(_ key: SigningKey, signingKeyOut: String, publicKeyOut: String) throws {
            let descriptor = open(signingKeyOut, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard descriptor >= 0 else {
                throw ValidationError(errno == EEXIST
                    ? "\(signingKeyOut) exists: a signing key is never overwritten; remove it first to replace it"
                    : "cannot write \(signingKeyOut): \(String(cString: strerror(errno)))")
            }
            let contents = Array(key.fileContents.utf8)
            let written = contents.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            let closed = close(descriptor)
            guard written == contents.count, closed == 0 else {
                unlink(signingKeyOut)
                throw ValidationError("cannot write \(signingKeyOut)")
            }
            try appendPublicKey(key.verificationKey, to: publicKeyOut)
        }

        static func appendPublicKey(_ key: VerificationKey, to path: String) throws {
            let line = Data(key.fileLine.utf8)
            if let handle = FileHandle(forWritingAtPath: path) {
                handle.seekToEndOfFile()
                handle.write(line)
                handle.closeFile()
            } else if !FileManager.default.createFile(atPath: path, contents: line) {
                throw ValidationError("cannot write \(path)")
            }
        }
    }

    /// `souk keys dev`: the keys of a local system, made once and kept.
    public struct Dev: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "dev",
            abstract: "Make the keys of a local system once: access tokens (users) and service credentials.",
            discussion: """
                Writes, into --dir, users.key and users.pub (the users service signs access tokens \
                with users.key; every service verifies them with users.pub) and services.key and \
                services.pub (services sign the credentials of their internal calls with services.key; \
                the callee trusts services.pub). A key pair that exists is kept, so running it again \
                changes nothing. Prints the environment the services read.
                """)

        @Option(help: "The folder of the keys (created mode 700 when missing).") public var dir = "var/keys"

        public init() {}

        /// The key pairs: file name and key id prefix.
        static let pairs = [("users", "users-dev"), ("services", "services-dev")]

        public func run() async throws {
            let manager = FileManager.default
            if !manager.fileExists(atPath: dir) {
                try manager.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                            attributes: [.posixPermissions: 0o700])
            } else if chmod(dir, 0o700) != 0 {
                // An existing folder is made private too: it holds private keys.
                throw ValidationError("cannot make \(dir) mode 700: \(String(cString: strerror(errno)))")
            }
            for (name, idPrefix) in Self.pairs {
                let signing = "\(dir)/\(name).key", verifying = "\(dir)/\(name).pub"
                if manager.fileExists(atPath: signing) {
                    // Kept, but checked: a damaged key is better found now than at the first call.
                    let key = try SigningKey(fileContents: try UsersCommand.readPrivateKey(signing))
                    guard manager.fileExists(atPath: verifying) else {
                        try New.appendPublicKey(key.verificationKey, to: verifying)
                        print("kept \(signing) (key \(key.id)); wrote its missing public key to \(verifying)")
                        continue
                    }
                    let trusted = try VerificationKey.keys(fromFileContents: try UsersCommand.read(verifying))
                    if !trusted.contains(key.verificationKey) {
                        throw ValidationError("\(verifying) does not hold the public key of \(signing); remove both to make a new pair")
                    }
                    print("kept \(signing) (key \(key.id))")
                    continue
                }
                // A key id with the date, so that a later key can be told apart from this one.
                // An existing public key file is appended to, not replaced: it may trust other keys.
                let id = "\(idPrefix)-\(Int(Date().timeIntervalSince1970))"
                try New.write(try SigningKey.generate(id: id), signingKeyOut: signing, publicKeyOut: verifying)
                print("wrote \(signing) and \(verifying) (key \(id))")
            }
            print("""
                SOUK_USERS_SIGNING_KEY_FILE=\(dir)/users.key
                SOUK_SERVICE_KEYS_FILE=\(dir)/services.pub
                """)
        }
    }
}
