import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SoukAuth

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
            try Self.makeKeys(in: dir) { print($0) }
            print("""
                SOUK_USERS_SIGNING_KEY_FILE=\(dir)/users.key
                SOUK_USERS_PUBLIC_KEYS_FILE=\(dir)/users.pub
                SOUK_SERVICE_SIGNING_KEY_FILE=\(dir)/services.key
                SOUK_SERVICE_KEYS_FILE=\(dir)/services.pub
                """)
        }

        /// Makes the key pairs missing from `dir` (mode 700) and checks the ones kept, saying what it did.
        static func makeKeys(in dir: String, say: (String) -> Void) throws {
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
                    let key = try SigningKey(fileContents: try Setting.readPrivateKey(signing))
                    guard manager.fileExists(atPath: verifying) else {
                        try New.appendPublicKey(key.verificationKey, to: verifying)
                        say("kept \(signing) (key \(key.id)); wrote its missing public key to \(verifying)")
                        continue
                    }
                    let trusted = try VerificationKey.keys(fromFileContents: try Setting.read(verifying))
                    if !trusted.contains(key.verificationKey) {
                        throw ValidationError("\(verifying) does not hold the public key of \(signing); remove both to make a new pair")
                    }
                    say("kept \(signing) (key \(key.id))")
                    continue
                }
                // A key id with the date, so that a later key can be told apart from this one.
                // An existing public key file is appended to, not replaced: it may trust other keys.
                let id = "\(idPrefix)-\(Int(Date().timeIntervalSince1970))"
                try New.write(try SigningKey.generate(id: id), signingKeyOut: signing, publicKeyOut: verifying)
                say("wrote \(signing) and \(verifying) (key \(id))")
            }
        }
    }
}
