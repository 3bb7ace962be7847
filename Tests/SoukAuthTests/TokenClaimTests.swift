@testable import SoukAuth
import Testing

/// Claims as a validly signed token may carry them: any number, present or not.
@Suite("Token claims at their extremes")
struct TokenClaimTests {
    let key = try! SigningKey.generate(id: "users-2026-12")
    let now = UnixTime(seconds: 1_800_000_000)
    var verifier: TokenVerifier { TokenVerifier(issuer: "souk-users", keys: [key.verificationKey], leewaySeconds: 30) }

    /// A token with `claims` (JSON members) signed by `key`, as only the holder of the key could make it.
    func signed(_ claims: String) -> String {
        let header = Sodium.base64URL(Array(#"{"alg":"EdDSA","typ":"JWT","kid":"users-2026-12"}"#.utf8))
        let payload = Sodium.base64URL(Array(#"{"iss":"souk-users","sub":"user-1","typ":"user","#.utf8) + Array(claims.utf8) + [UInt8(ascii: "}")])
        let signature = key.sign(Array("\(header).\(payload)".utf8))
        return "\(header).\(payload).\(Sodium.base64URL(signature))"
    }

    @Test("no claim value makes the verifier trap: exp, iat and nbf at the ends of Int64", arguments: [
        (#""iat":1800000000,"exp":9223372036854775807"#, true),
        (#""iat":-9223372036854775808,"exp":9223372036854775807"#, true),
        (#""iat":1800000000,"exp":-9223372036854775808"#, false),
        (#""iat":9223372036854775807,"exp":9223372036854775807"#, false),
        (#""iat":1800000000,"exp":9223372036854775807,"nbf":9223372036854775807"#, false),
        (#""iat":1800000000,"exp":9223372036854775807,"nbf":-9223372036854775808"#, true),
    ])
    func extremes(claims: String, accepted: Bool) throws {
        let token = signed(claims)
        for _ in 0..<2 {  // once checked, once remembered
            if accepted {
                _ = try verifier.verify(token, kind: .user, now: now)
            } else {
                #expect(throws: AuthError.self) { try verifier.verify(token, kind: .user, now: now) }
            }
        }
    }

    @Test("nbf is checked: refused before it (beyond the leeway), accepted from then on")
    func notBefore() throws {
        let token = signed(#""iat":1800000000,"exp":1800000900,"nbf":1800000100"#)
        let error = try #require(throws: AuthError.self) { try verifier.verify(token, kind: .user, now: now) }
        #expect(error.message.contains("not valid yet"))
        #expect(error.rpcError.code == .unauthenticated)
        _ = try verifier.verify(token, kind: .user, now: UnixTime(seconds: 1_800_000_071))
        let claims = try verifier.verify(token, kind: .user, now: UnixTime(seconds: 1_800_000_100))
        #expect(claims.notBefore == 1_800_000_100)
    }

    @Test("after a rotation, tokens of the previous key stay valid until they expire; the verifier trusts both keys")
    func rotation() throws {
        let next = try SigningKey.generate(id: "users-2027-01")
        let rotated = TokenVerifier(issuer: "souk-users", keys: [next.verificationKey, key.verificationKey])
        let before = TokenIssuer(key: key, issuer: "souk-users").issue(subject: "user-1", now: now).token
        let after = TokenIssuer(key: next, issuer: "souk-users").issue(subject: "user-1", now: now).token
        _ = try rotated.verify(before, kind: .user, now: now)
        _ = try rotated.verify(after, kind: .user, now: now)
        #expect(throws: AuthError.self) { try verifier.verify(after, kind: .user, now: now) }
    }

    @Test("an nbf that is not a number of seconds is refused")
    func malformedNotBefore() {
        let token = signed(#""iat":1800000000,"exp":1800000900,"nbf":"soon""#)
        #expect(throws: AuthError.self) { try verifier.verify(token, kind: .user, now: now) }
    }
}

/// Admission to the password-hashing threads.
@Suite("Password hashing is bounded")
struct HashingWorkersTests {
    @Test("as many hashes as workers run, a short queue waits in order, and the rest are refused at once")
    func admission() async throws {
        let workers = HashingWorkers(concurrency: 1, queueLength: 1)
        #expect(await workers.admit())
        let queued = Task { await workers.admit() }
        while workers.waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(await !workers.admit(), "the queue is full: refused at once")
        workers.finished()
        #expect(await queued.value)
        // The queue is empty again: one more may wait.
        let next = Task { await workers.admit() }
        while workers.waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        workers.finished()
        #expect(await next.value)
        workers.finished()
        #expect(await workers.admit())
    }

    @Test("a hasher whose workers and queue are full answers RESOURCE_EXHAUSTED, not a wait")
    func busyIsResourceExhausted() {
        let error = AuthError(kind: .hashingBusy, message: "too many sign-ins at once; try again in a moment")
        #expect(error.rpcError.code == .resourceExhausted)
    }
}
