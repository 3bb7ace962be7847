import ArgumentParser
import Foundation
import SoukAuth
@testable import SoukCLI
import Testing

@Suite("Service commands: a bad or missing setting is named before anything starts")
struct ServiceCommandTests {
    /// The ValidationError `run()` throws for `arguments`, with no development keys to fall
    /// back on unless `developmentKeys` names a folder of them.
    func refusal<Command: AsyncParsableCommand>(_ command: Command.Type, _ arguments: [String],
                                                developmentKeys: String = "/nonexistent/souk-keys") async throws -> String {
        var parsed = try command.parse(arguments)
        do {
            try await Setting.$developmentKeysFolder.withValue(developmentKeys) {
                try await parsed.run()
            }
        } catch let error as ValidationError {
            return error.message
        }
        Issue.record("\(command) \(arguments) started")
        return ""
    }

    /// What a missing key setting says: both ways to give it, and the development fallback.
    func missingKey(_ option: String, _ variable: String, _ file: String) -> String {
        "missing setting: pass \(option), or set \(variable) (for a local system, `souk keys dev` makes "
            + "/nonexistent/souk-keys/\(file), which is used when neither is given)"
    }

    /// Key files in a private temporary folder: a service key pair and a users key pair.
    func keyFiles() throws -> (dir: String, serviceKey: String, servicePub: String, usersPub: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("souk-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (name, id) in [("services", "services-test"), ("users", "users-test")] {
            let key = try SigningKey.generate(id: id)
            FileManager.default.createFile(atPath: "\(dir)/\(name).key", contents: Data(key.fileContents.utf8),
                                           attributes: [.posixPermissions: 0o600])
            FileManager.default.createFile(atPath: "\(dir)/\(name).pub", contents: Data(key.verificationKey.fileLine.utf8))
        }
        return (dir, "\(dir)/services.key", "\(dir)/services.pub", "\(dir)/users.pub")
    }

    @Test("souk orders: each users address must be host:port", arguments: ["users", "users:http", ":50051", "users:70000", "a:1,b"])
    func badUsersAddress(address: String) async throws {
        let keys = try keyFiles()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        let message = try await refusal(OrdersCommand.self, [
            "--users-address", address, "--users-public-keys-file", keys.usersPub,
            "--service-signing-key-file", keys.serviceKey, "--service-keys-file", keys.servicePub,
            "--database-url", "postgres://nobody@127.0.0.1:1/none",
        ])
        #expect(message.contains("--users-address (SOUK_USERS_ADDRESS)") && message.contains("is not host:port"), "\(message)")
    }

    @Test("souk payments: a missing setting names its option and its variable; limits are checked before anything starts")
    func paymentsSettings() async throws {
        let keys = try keyFiles()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        // The orders address has a default (127.0.0.1:50052); the keys come next.
        let nothing = try await refusal(PaymentsCommand.self, ["--database-url", "postgres://nobody@127.0.0.1:1/none"])
        #expect(nothing == missingKey("--users-public-keys-file", "SOUK_USERS_PUBLIC_KEYS_FILE", "users.pub"))
        let noDatabase = try await refusal(PaymentsCommand.self, [
            "--orders-address", "127.0.0.1:50052", "--users-public-keys-file", keys.usersPub,
            "--service-signing-key-file", keys.serviceKey,
        ])
        #expect(noDatabase == "missing setting: pass --database-url, or set SOUK_PAYMENTS_DATABASE_URL")
        #expect(throws: (any Error).self) { _ = try PaymentsCommand.parse(["--outbox-lease-seconds", "1"]) }
        #expect(throws: (any Error).self) { _ = try PaymentsCommand.parse(["--idempotency-key-hours", "23"]) }
        #expect(throws: Never.self) { _ = try PaymentsCommand.parse(["--idempotency-key-hours", "48", "--outbox-lease-seconds", "10"]) }
    }

    @Test("souk orders: a missing setting names its option and its variable")
    func missingSettings() async throws {
        let keys = try keyFiles()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        let database = ["--database-url", "postgres://nobody@127.0.0.1:1/none"]
        let noKeys = try await refusal(OrdersCommand.self, ["--users-address", "127.0.0.1:50051"] + database)
        #expect(noKeys == missingKey("--users-public-keys-file", "SOUK_USERS_PUBLIC_KEYS_FILE", "users.pub"))
        let noSigningKey = try await refusal(OrdersCommand.self,
                                             ["--users-address", "127.0.0.1:50051", "--users-public-keys-file", keys.usersPub] + database)
        #expect(noSigningKey == missingKey("--service-signing-key-file", "SOUK_SERVICE_SIGNING_KEY_FILE", "services.key"))
        let noDatabase = try await refusal(OrdersCommand.self, [
            "--users-address", "127.0.0.1:50051", "--users-public-keys-file", keys.usersPub,
            "--service-signing-key-file", keys.serviceKey, "--service-keys-file", keys.servicePub,
        ])
        #expect(noDatabase == "missing setting: pass --database-url, or set SOUK_ORDERS_DATABASE_URL")
    }

    @Test("a signing key readable by others, or not a key, is refused naming the file")
    func badKeys() async throws {
        let keys = try keyFiles()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        chmod(keys.serviceKey, 0o644)
        let database = ["--database-url", "postgres://nobody@127.0.0.1:1/none"]
        let open = try await refusal(OrdersCommand.self, [
            "--users-address", "127.0.0.1:50051", "--users-public-keys-file", keys.usersPub, "--service-signing-key-file", keys.serviceKey,
        ] + database)
        #expect(open.contains("\(keys.serviceKey) is readable by others") && open.contains("chmod 600"))
        let notAKey = try await refusal(UsersCommand.self,
                                        ["--signing-key-file", keys.usersPub, "--service-keys-file", keys.servicePub] + database)
        #expect(notAKey.contains(keys.usersPub), "\(notAKey)")
    }

    @Test("with no key settings, a service takes the development keys (souk keys dev's files) and goes on")
    func developmentKeys() async throws {
        let keys = try keyFiles()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        let message = try await refusal(OrdersCommand.self, [], developmentKeys: keys.dir)
        #expect(message == "missing setting: pass --database-url, or set SOUK_ORDERS_DATABASE_URL")
    }

    @Test("listen and admin addresses: host:port with port 0 to 65535, else named", arguments: [
        ["--port", "70000"], ["--admin-address", "8081"], ["--admin-address", "127.0.0.1:65536"], ["--log-level", "loud"],
        ["--log-format", "xml"],
    ])
    func badServiceAddresses(arguments: [String]) async throws {
        let keys = try keyFiles()
        defer { try? FileManager.default.removeItem(atPath: keys.dir) }
        var message = ""
        do {
            message = try await refusal(UsersCommand.self, arguments + ["--database-url", "postgres://nobody@127.0.0.1:1/none"],
                                        developmentKeys: keys.dir)
        } catch {
            message = UsersCommand.message(for: error)  // refused while parsing
        }
        #expect(message.contains(arguments[0]), "\(message)")
    }
}
