import SoukAuth
import SoukRPCCore
import Testing

@Suite("Signed access tokens and service credentials")
struct TokenTests {
    let key = try! SigningKey.generate(id: "users-2026-11")
    let otherKey = try! SigningKey.generate(id: "users-2026-11")
    let now = UnixTime(seconds: 1_800_000_000)

    var issuer: TokenIssuer { TokenIssuer(key: key, issuer: "souk-users") }
    var verifier: TokenVerifier { TokenVerifier(issuer: "souk-users", keys: [key.verificationKey]) }

    @Test("a token carries issuer, subject, issued-at, a 15-minute expiry and the key id")
    func claims() throws {
        let (token, claims) = issuer.issue(subject: "user-1", now: now)
        let verified = try verifier.verify(token, kind: .user, now: now)
        #expect(verified == claims)
        #expect(verified.issuer == "souk-users")
        #expect(verified.subject == "user-1")
        #expect(verified.issuedAt == now.seconds)
        #expect(verified.expiresAt == now.seconds + 900)
        #expect(verified.keyID == "users-2026-11")
    }

    @Test("an expired token is UNAUTHENTICATED, saying it expired")
    func expired() throws {
        let (token, _) = issuer.issue(subject: "user-1", now: now)
        let later = UnixTime(seconds: now.seconds + 900 + 31)
        let error = try #require(throws: AuthError.self) { try verifier.verify(token, kind: .user, now: later) }
        #expect(error.kind == .expiredToken)
        #expect(error.rpcError.code == .unauthenticated)
        // Within the clock-skew leeway it is still accepted.
        _ = try verifier.verify(token, kind: .user, now: UnixTime(seconds: now.seconds + 900 + 29))
    }

    @Test("a tampered payload fails the signature check")
    func tampered() throws {
        let (token, _) = issuer.issue(subject: "user-1", now: now)
        let parts = token.split(separator: ".").map(String.init)
        let forged = #"{"iss":"souk-users","sub":"admin","typ":"user","iat":1800000000,"exp":1900000000}"#
        let forgedPayload = base64URL(Array(forged.utf8))
        let tampered = [parts[0], forgedPayload, parts[2]].joined(separator: ".")
        let error = try #require(throws: AuthError.self) { try verifier.verify(tampered, kind: .user, now: now) }
        #expect(error.message.contains("signature"))
    }

    @Test("a token signed by a key the verifier does not know is refused, even with a known key id")
    func wrongKey() throws {
        let (token, _) = TokenIssuer(key: otherKey, issuer: "souk-users").issue(subject: "user-1", now: now)
        #expect(throws: AuthError.self) { try verifier.verify(token, kind: .user, now: now) }
        let (unknownID, _) = TokenIssuer(key: try SigningKey.generate(id: "other"), issuer: "souk-users")
            .issue(subject: "user-1", now: now)
        let error = try #require(throws: AuthError.self) { try verifier.verify(unknownID, kind: .user, now: now) }
        #expect(error.message.contains("unknown key"))
    }

    @Test("a token from another issuer is refused")
    func wrongIssuer() throws {
        let (token, _) = TokenIssuer(key: key, issuer: "someone-else").issue(subject: "user-1", now: now)
        let error = try #require(throws: AuthError.self) { try verifier.verify(token, kind: .user, now: now) }
        #expect(error.message.contains("souk-users"))
    }

    @Test("alg none and HMAC tokens are refused before any signature check", arguments: [
        #"{"alg":"none","typ":"JWT","kid":"users-2026-11"}"#,
        #"{"alg":"HS256","typ":"JWT","kid":"users-2026-11"}"#,
        #"{"alg":"eddsa","typ":"JWT","kid":"users-2026-11"}"#,
        #"{"typ":"JWT","kid":"users-2026-11"}"#,
    ])
    func algorithms(header: String) throws {
        let (token, _) = issuer.issue(subject: "user-1", now: now)
        let parts = token.split(separator: ".").map(String.init)
        for signature in ["", parts[2]] {
            let forged = [base64URL(Array(header.utf8)), parts[1], signature].joined(separator: ".")
            let error = try #require(throws: AuthError.self) { try verifier.verify(forged, kind: .user, now: now) }
            #expect(error.rpcError.code == .unauthenticated)
        }
    }

    @Test("a user's token cannot stand in for a service credential, nor the other way round")
    func kinds() throws {
        let (userToken, _) = issuer.issue(subject: "user-1", kind: .user, now: now)
        let (serviceToken, _) = issuer.issue(subject: "souk-orders", kind: .service, now: now)
        #expect(try verifier.verify(serviceToken, kind: .service, now: now).subject == "souk-orders")
        let error = try #require(throws: AuthError.self) { try verifier.verify(userToken, kind: .service, now: now) }
        #expect(error.kind == .wrongTokenKind)
        #expect(throws: AuthError.self) { try verifier.verify(serviceToken, kind: .user, now: now) }
    }

    @Test("garbage is refused with UNAUTHENTICATED, never a crash", arguments: [
        "", ".", "..", "a.b.c", "a.b", "a.b.c.d", "ey.ey.ey", String(repeating: "a", count: 5000),
        "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.%%%", "\u{0}.\u{0}.\u{0}",
    ])
    func garbage(token: String) throws {
        let error = try #require(throws: AuthError.self) { try verifier.verify(token, kind: .user, now: now) }
        #expect(error.rpcError.code == .unauthenticated)
    }

    @Test("the authorization metadata must be a Bearer token")
    func metadata() throws {
        let (token, _) = issuer.issue(subject: "user-1", now: now)
        #expect(try verifier.verify(metadata: Metadata(["authorization": "Bearer \(token)"]), kind: .user, now: now).subject == "user-1")
        #expect(throws: AuthError.self) { try verifier.verify(metadata: Metadata(), kind: .user, now: now) }
        #expect(throws: AuthError.self) { try verifier.verify(metadata: Metadata(["authorization": "Basic abc"]), kind: .user, now: now) }
        #expect(throws: AuthError.self) { try verifier.verify(metadata: Metadata(["authorization": "Bearer "]), kind: .user, now: now) }
        // The scheme is case-insensitive; its separator is a space and nothing else.
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            #expect(try verifier.verify(metadata: Metadata(["authorization": "\(scheme) \(token)"]), kind: .user, now: now).subject == "user-1")
        }
        for malformed in ["Bearer\u{0}\(token)", "Bearer\t\(token)", "Bearez \(token)", "Bearer\(token)", "Bearér \(token)"] {
            #expect(throws: AuthError.self) { try verifier.verify(metadata: Metadata(["authorization": malformed]), kind: .user, now: now) }
        }
    }

    @Test("keys survive their file format")
    func keyFiles() throws {
        let reread = try SigningKey(fileContents: key.fileContents)
        #expect(reread.verificationKey == key.verificationKey)
        let keys = try VerificationKey.keys(fromFileContents: "# trusted\n" + key.verificationKey.fileLine + "\n")
        #expect(keys == [key.verificationKey])
        #expect(throws: AuthError.self) { try SigningKey(fileContents: "id notbase64!") }
        #expect(throws: AuthError.self) { try SigningKey(fileContents: "id AAAA") }
    }

    func base64URL(_ bytes: [UInt8]) -> String {
        var text = ""
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for byte in chunk { value = value << 8 | Int(byte) }
            value <<= (3 - chunk.count) * 8
            for position in 0..<(chunk.count + 1) { text.append(alphabet[(value >> (18 - 6 * position)) & 63]) }
            index += 3
        }
        return text
    }
}

@Suite("Argon2id password hashes")
struct PasswordHasherTests {
    let hasher = PasswordHasher(parameters: .minimal)

    @Test("a hash verifies its password and no other")
    func verify() async throws {
        let hash = try await hasher.hash("correct horse battery")
        #expect(try await hasher.verify("correct horse battery", against: hash))
        #expect(!(try await hasher.verify("correct horse batterz", against: hash)))
        #expect(!(try await hasher.verify("", against: hash)))
    }

    @Test("the stored hash is Argon2id, records its parameters, and never contains the password")
    func encoding() async throws {
        let hash = try await PasswordHasher(parameters: .owasp).hash("correct horse battery")
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(!hash.contains("correct"))
    }

    @Test("two hashes of one password differ: each has its own salt")
    func salted() async throws {
        #expect(try await hasher.hash("same password") != hasher.hash("same password"))
    }

    @Test("a hash made with other parameters needs a rehash")
    func rehash() async throws {
        let weak = try await hasher.hash("correct horse battery")
        #expect(PasswordHasher(parameters: .owasp).needsRehash(weak))
        #expect(!hasher.needsRehash(weak))
        #expect(hasher.needsRehash("not a hash"))
    }

    @Test("unicode passwords hash and verify")
    func unicode() async throws {
        let hash = try await hasher.hash("pässwörd 🔑 密码")
        #expect(try await hasher.verify("pässwörd 🔑 密码", against: hash))
        #expect(!(try await hasher.verify("passwort 🔑 密码", against: hash)))
    }

    @Test("a NUL inside a password is part of it, not its end")
    func nulInPassword() async throws {
        let hash = try await hasher.hash("pass\u{0}word")
        #expect(!(try await hasher.verify("pass", against: hash)))
        #expect(try await hasher.verify("pass\u{0}word", against: hash))
    }

    @Test("a malformed stored hash verifies nothing")
    func malformedHash() async throws {
        #expect(!(try await hasher.verify("x", against: "")))
        #expect(!(try await hasher.verify("x", against: "$argon2id$garbage")))
    }
}
