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
import SoukServiceKit
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

    @Option(help: "The file of the key that signs access tokens.") public var signingKeyFile: String?
    @Option(help: "The file of the public keys of earlier signing keys still trusted (rotation).")
    public var usersPublicKeysFile: String?
    @Option(help: "The file of the public keys of trusted service credentials.") public var serviceKeysFile: String?
    @Option(help: """
        Addresses whose x-forwarded-for names the client, for the sign-in throttle per address: the gateway's \
        (IPv4 addresses or networks, IPv6 addresses, joined by commas; else SOUK_TRUSTED_PROXIES; default \
        127.0.0.0/8,::1; "none" for none).
        """)
    public var trustedProxies: String?
    @OptionGroup public var service: ServiceOptions

    public init() {}

    public func run() async throws {
        let runner = try ServiceRunner(name: "users", options: service)
        let signingKey = try Setting.signingKey(signingKeyFile, "SOUK_USERS_SIGNING_KEY_FILE", option: "--signing-key-file",
                                                development: "users.key")
        var trustedUserKeys = [signingKey.verificationKey]
        if Setting.optional(usersPublicKeysFile, "SOUK_USERS_PUBLIC_KEYS_FILE") != nil {
            trustedUserKeys += try Setting.verificationKeys(usersPublicKeysFile, "SOUK_USERS_PUBLIC_KEYS_FILE",
                                                            option: "--users-public-keys-file", development: "users.pub")
        }
        let serviceKeys = try Setting.verificationKeys(serviceKeysFile, "SOUK_SERVICE_KEYS_FILE", option: "--service-keys-file",
                                                     development: "services.pub")
        var configuration = UsersServiceHandler.Configuration(
            tokenIssuer: TokenIssuer(key: signingKey, issuer: "souk-users"),
            userTokens: TokenVerifier(issuer: "souk-users", keys: trustedUserKeys),
            serviceCredentials: ServiceCredentials.verifier(for: "souk-users", keys: serviceKeys))
        if let text = Setting.optional(trustedProxies, "SOUK_TRUSTED_PROXIES") {
            do {
                configuration.trustedProxies = text == "none" ? .none : try TrustedProxies(parsing: text)
            } catch {
                throw ValidationError("--trusted-proxies (SOUK_TRUSTED_PROXIES): \"\(error.part)\" is neither an IPv4 address or "
                                      + "network (10.0.0.0/8) nor an IPv6 address")
            }
        }
        try await runner.run(migrations: UsersServiceHandler.migrations()) { pool, logger in
            [try await UsersServiceHandler(database: pool, configuration: configuration, logger: logger)]
        }
    }
}
