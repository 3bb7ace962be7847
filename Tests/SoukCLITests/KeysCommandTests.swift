import ArgumentParser
import Foundation
import SoukAuth
import SoukCLI
import Testing

@Suite("souk keys")
struct KeysCommandTests {
    func run(_ arguments: [String]) async throws {
        var command = try SoukCommand.parseAsRoot(arguments)
        guard var command = command as? AsyncParsableCommand else { return try command.run() }
        try await command.run()
    }

    func withTemporaryDirectory(_ body: (String) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "souk-keys-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await body(dir)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test("keys dev makes the access-token and service-credential key pairs, private keys mode 600")
    func makesBothPairs() async throws {
        try await withTemporaryDirectory { dir in
            try await run(["keys", "dev", "--dir", dir])
            for name in ["users", "services"] {
                let key = try SigningKey(fileContents: try read("\(dir)/\(name).key"))
                let trusted = try VerificationKey.keys(fromFileContents: try read("\(dir)/\(name).pub"))
                #expect(trusted == [key.verificationKey])
                let attributes = try FileManager.default.attributesOfItem(atPath: "\(dir)/\(name).key")
                #expect((attributes[.posixPermissions] as? Int) == 0o600)
            }
            let folder = try FileManager.default.attributesOfItem(atPath: dir)
            #expect((folder[.posixPermissions] as? Int) == 0o700)
        }
    }

    @Test("keys dev makes an existing folder mode 700 too")
    func existingFolderMadePrivate() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
            try await run(["keys", "dev", "--dir", dir])
            let folder = try FileManager.default.attributesOfItem(atPath: dir)
            #expect((folder[.posixPermissions] as? Int) == 0o700)
        }
    }

    @Test("a private key readable by others is refused, saying how to fix it")
    func privateKeyReadableByOthers() async throws {
        try await withTemporaryDirectory { dir in
            try await run(["keys", "dev", "--dir", dir])
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(dir)/users.key")
            do {
                try await run(["keys", "dev", "--dir", dir])
                Issue.record("a private key of mode 644 was accepted")
            } catch {
                let message = SoukCommand.message(for: error)
                #expect(message.contains("readable by others (mode 644)"), "\(message)")
                #expect(message.contains("chmod 600 \(dir)/users.key"), "\(message)")
            }
        }
    }

    @Test("a token signed with the dev users key verifies with the dev users public key")
    func keysWork() async throws {
        try await withTemporaryDirectory { dir in
            try await run(["keys", "dev", "--dir", dir])
            let key = try SigningKey(fileContents: try read("\(dir)/users.key"))
            let verifier = TokenVerifier(issuer: "souk-users",
                                         keys: try VerificationKey.keys(fromFileContents: try read("\(dir)/users.pub")))
            let (token, _) = TokenIssuer(key: key, issuer: "souk-users").issue(subject: "user-1")
            #expect(try verifier.verify(token, kind: .user).subject == "user-1")
        }
    }

    @Test("running keys dev again keeps the keys it made")
    func idempotent() async throws {
        try await withTemporaryDirectory { dir in
            try await run(["keys", "dev", "--dir", dir])
            let first = try ["users.key", "users.pub", "services.key", "services.pub"].map { try read("\(dir)/\($0)") }
            try await run(["keys", "dev", "--dir", dir])
            let second = try ["users.key", "users.pub", "services.key", "services.pub"].map { try read("\(dir)/\($0)") }
            #expect(first == second)
        }
    }

    @Test("a public key file that does not match its signing key is an error naming both files")
    func mismatchedPair() async throws {
        try await withTemporaryDirectory { dir in
            try await run(["keys", "dev", "--dir", dir])
            let stranger = try SigningKey.generate(id: "stranger")
            try stranger.verificationKey.fileLine.write(toFile: "\(dir)/services.pub", atomically: true, encoding: .utf8)
            let error = try await #require(throws: ValidationError.self) { try await run(["keys", "dev", "--dir", dir]) }
            #expect(error.message.contains("services.pub") && error.message.contains("services.key"))
        }
    }

    @Test("a damaged signing key is an error, not replaced silently")
    func damagedKey() async throws {
        try await withTemporaryDirectory { dir in
            try await run(["keys", "dev", "--dir", dir])
            try "not a key".write(toFile: "\(dir)/users.key", atomically: true, encoding: .utf8)
            await #expect(throws: (any Error).self) { try await run(["keys", "dev", "--dir", dir]) }
            #expect(try read("\(dir)/users.key") == "not a key")
        }
    }

    @Test("a missing public key file is written again from the kept signing key")
    func missingPublicKey() async throws {
        try await withTemporaryDirectory { dir in
            try await run(["keys", "dev", "--dir", dir])
            let before = try read("\(dir)/users.pub")
            try FileManager.default.removeItem(atPath: "\(dir)/users.pub")
            try await run(["keys", "dev", "--dir", dir])
            #expect(try read("\(dir)/users.pub") == before)
        }
    }

    @Test("keys new never overwrites a signing key, and appends to an existing public key file")
    func newNeverOverwrites() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try await run(["keys", "new", "first", "--signing-key-out", "\(dir)/a.key", "--public-key-out", "\(dir)/trusted.pub"])
            let firstKey = try read("\(dir)/a.key")
            let error = try await #require(throws: ValidationError.self) {
                try await run(["keys", "new", "second", "--signing-key-out", "\(dir)/a.key", "--public-key-out", "\(dir)/trusted.pub"])
            }
            #expect(error.message.contains("never overwritten"))
            #expect(try read("\(dir)/a.key") == firstKey)
            try await run(["keys", "new", "third", "--signing-key-out", "\(dir)/b.key", "--public-key-out", "\(dir)/trusted.pub"])
            let trusted = try VerificationKey.keys(fromFileContents: try read("\(dir)/trusted.pub"))
            #expect(trusted.map(\.id) == ["first", "third"])
        }
    }
}
