@testable import SoukAuth
import Testing

@Suite("A verifier remembers verified signatures, and nothing else")
struct VerifiedTokenCacheTests {
    let key = try! SigningKey.generate(id: "users-2026-11")
    let now = UnixTime(seconds: 1_800_000_000)
    var issuer: TokenIssuer { TokenIssuer(key: key, issuer: "souk-users") }

    @Test("a token verified once verifies again to the same claims")
    func repeated() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey])
        let (token, claims) = issuer.issue(subject: "user-1", now: now)
        #expect(try verifier.verify(token, kind: .user, now: now) == claims)
        #expect(verifier.rememberedTokens == 1)
        #expect(try verifier.verify(token, kind: .user, now: now) == claims)
        #expect(verifier.rememberedTokens == 1)
    }

    @Test("a remembered token still expires, and is still only good for its kind")
    func timesAndKindAreCheckedEveryTime() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey])
        let (token, _) = issuer.issue(subject: "user-1", now: now)
        _ = try verifier.verify(token, kind: .user, now: now)
        let expired = try #require(throws: AuthError.self) {
            try verifier.verify(token, kind: .user, now: UnixTime(seconds: now.seconds + 900 + 31))
        }
        #expect(expired.kind == .expiredToken)
        let wrongKind = try #require(throws: AuthError.self) { try verifier.verify(token, kind: .service, now: now) }
        #expect(wrongKind.kind == .wrongTokenKind)
    }

    @Test("a token differing from a remembered one in one character is checked, and fails")
    func tamperedCopyOfARememberedToken() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey])
        let (token, _) = issuer.issue(subject: "user-1", now: now)
        _ = try verifier.verify(token, kind: .user, now: now)
        var bytes = Array(token.utf8)
        bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let tampered = String(decoding: bytes, as: UTF8.self)
        let error = try #require(throws: AuthError.self) { try verifier.verify(tampered, kind: .user, now: now) }
        #expect(error.message.contains("signature"))
        #expect(verifier.rememberedTokens == 1)
    }

    @Test("refused and already expired tokens are not remembered")
    func failuresAreNotRemembered() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey])
        let (old, _) = issuer.issue(subject: "user-1", now: UnixTime(seconds: now.seconds - 3600))
        #expect(throws: AuthError.self) { try verifier.verify(old, kind: .user, now: now) }
        #expect(throws: AuthError.self) { try verifier.verify("a.b.c", kind: .user, now: now) }
        #expect(verifier.rememberedTokens == 0)
    }

    @Test("the memory is bounded: when full, expired tokens go first, then all")
    func bounded() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey], cacheCapacity: 3)
        for index in 0 ..< 10 {
            let (token, _) = issuer.issue(subject: "user-\(index)", now: now)
            _ = try verifier.verify(token, kind: .user, now: now)
            #expect(verifier.rememberedTokens <= 3)
        }
        let (early, _) = issuer.issue(subject: "early", now: UnixTime(seconds: now.seconds - 800))
        let verifierWithExpiring = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey], cacheCapacity: 2)
        _ = try verifierWithExpiring.verify(early, kind: .user, now: now)
        let (fresh, _) = issuer.issue(subject: "fresh", now: now)
        _ = try verifierWithExpiring.verify(fresh, kind: .user, now: now)
        // Later, `early` has expired: making room forgets it, and keeps `fresh`.
        let later = UnixTime(seconds: now.seconds + 200)
        let (third, _) = issuer.issue(subject: "third", now: later)
        _ = try verifierWithExpiring.verify(third, kind: .user, now: later)
        #expect(verifierWithExpiring.rememberedTokens == 2)
        #expect(try verifierWithExpiring.verify(fresh, kind: .user, now: later).subject == "fresh")
    }

    @Test("a verifier that remembers nothing still verifies")
    func disabled() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey], cacheCapacity: 0)
        let (token, claims) = issuer.issue(subject: "user-1", now: now)
        #expect(try verifier.verify(token, kind: .user, now: now) == claims)
        #expect(verifier.rememberedTokens == 0)
    }

    @Test("a non-ASCII look-alike of a remembered token is refused, not matched by Unicode equivalence")
    func unicodeLookAlike() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey])
        var token = ""
        var subject = 0
        // A token holding a K, which the Kelvin sign U+212A is canonically equivalent to.
        while !token.contains("K") {
            subject += 1
            token = issuer.issue(subject: "user-\(subject)", now: now).token
        }
        _ = try verifier.verify(token, kind: .user, now: now)
        var scalars = String.UnicodeScalarView()
        for scalar in token.unicodeScalars { scalars.append(scalar == "K" ? "\u{212A}" : scalar) }
        let lookAlike = String(scalars)
        #expect(lookAlike == token, "Swift equates the two strings")
        let error = try #require(throws: AuthError.self) { try verifier.verify(lookAlike, kind: .user, now: now) }
        #expect(error.message.contains("well-formed"))
    }

    @Test("a remembered token is still not valid before its issued-at time")
    func notYetValidOnAHit() throws {
        let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey])
        let (token, _) = issuer.issue(subject: "user-1", now: now)
        _ = try verifier.verify(token, kind: .user, now: now)
        #expect(throws: AuthError.self) {
            try verifier.verify(token, kind: .user, now: UnixTime(seconds: now.seconds - 3600))
        }
    }
}
