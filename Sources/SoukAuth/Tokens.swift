#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SoukProtobuf
import SoukRPCCore
import Synchronization

/// Who a token speaks for: a user (access tokens issued by the users service) or a
/// Souk service calling another one's internal rpcs (service credentials).
public enum TokenKind: String, Sendable {
    case user
    case service
}

/// The claims of a verified token.
public struct TokenClaims: Sendable, Equatable {
    /// `iss`: who issued it, e.g. `souk-users`.
    public var issuer: String
    /// `sub`: the user id, or the calling service's name for a service credential.
    public var subject: String
    /// `typ`: user or service.
    public var kind: TokenKind
    /// `iat`, Unix seconds.
    public var issuedAt: Int64
    /// `exp`, Unix seconds; the token is refused from then on.
    public var expiresAt: Int64
    /// `nbf`, Unix seconds, when present: the token is refused before then.
    public var notBefore: Int64? = nil
    /// `kid` of the header: which key signed it.
    public var keyID: String
    /// `aud`: the service a service credential is for, e.g. `souk-users`.
    public var audience: String? = nil
}

/// Issues signed JWTs (EdDSA over Ed25519, through libsodium) with issuer, subject,
/// issued-at, expiry and key id.
public struct TokenIssuer: Sendable {
    public let key: SigningKey
    public let issuer: String
    public let lifetime: Duration

    /// Tokens expire after `lifetime` (15 minutes by default).
    public init(key: SigningKey, issuer: String, lifetime: Duration = .seconds(15 * 60)) {
        self.key = key
        self.issuer = issuer
        self.lifetime = lifetime
    }

    /// A token for `subject`, valid from `now` for the issuer's lifetime; `audience`
    /// names the service a service credential is for.
    public func issue(subject: String, kind: TokenKind = .user, audience: String? = nil,
                      now: UnixTime = .now) -> (token: String, claims: TokenClaims) {
        let claims = TokenClaims(issuer: issuer, subject: subject, kind: kind, issuedAt: now.seconds,
                                 expiresAt: now.seconds + lifetime.components.seconds, keyID: key.id, audience: audience)
        var header = JSONWriter()
        header.beginObject()
        header.fieldKey("alg"); header.value("EdDSA")
        header.fieldKey("typ"); header.value("JWT")
        header.fieldKey("kid"); header.value(key.id)
        header.endObject()
        var payload = JSONWriter()
        payload.beginObject()
        payload.fieldKey("iss"); payload.value(claims.issuer)
        payload.fieldKey("sub"); payload.value(claims.subject)
        payload.fieldKey("typ"); payload.value(claims.kind.rawValue)
        if let audience = claims.audience { payload.fieldKey("aud"); payload.value(audience) }
        payload.fieldKey("iat"); payload.raw(String(claims.issuedAt))  // JWT times are JSON numbers
        payload.fieldKey("exp"); payload.raw(String(claims.expiresAt))
        payload.endObject()
        let signingInput = Sodium.base64URL(header.bytes) + "." + Sodium.base64URL(payload.bytes)
        let signature = key.sign(Array(signingInput.utf8))
        return (signingInput + "." + Sodium.base64URL(signature), claims)
    }
}

/// Seconds since the Unix epoch, the unit of JWT times.
public struct UnixTime: Sendable, Comparable {
    public var seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    public static var now: UnixTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UnixTime(seconds: Int64(spec.tv_sec))
    }

    public static func < (lhs: UnixTime, rhs: UnixTime) -> Bool { lhs.seconds < rhs.seconds }
}

/// Verifies tokens locally, without a call to the users service: every service holds
/// the public keys of the issuers it trusts.
public struct TokenVerifier: Sendable {
    public let issuer: String
    private let keys: [String: VerificationKey]
    public let leeway: Int64
    /// When set, a token must name this audience (`aud`): a service credential made
    /// for another service is refused.
    public let audience: String?
    /// When set, a token may be valid for at most this long (`exp - iat`).
    public let maxLifetimeSeconds: Int64?
    /// Shared by the copies of this verifier.
    private let verified: VerifiedTokens

    /// Longer tokens are refused before any parsing.
    public static let maxTokenLength = 4096

    /// Trusts tokens from `issuer` signed by any of `keys` (the current key and those
    /// before it, so that tokens signed before a rotation stay valid until they expire);
    /// `leewaySeconds` absorbs clock skew. `audience` and `maxLifetime`, for service
    /// credentials: the callee's name, and the longest validity accepted.
    public init(issuer: String, keys: [VerificationKey], leewaySeconds: Int64 = 30,
                audience: String? = nil, maxLifetime: Duration? = nil) {
        self.init(issuer: issuer, keys: keys, leewaySeconds: leewaySeconds, audience: audience, maxLifetime: maxLifetime,
                  cacheCapacity: 4096)
    }

    /// `cacheCapacity`: how many verified tokens are remembered (0: none).
    init(issuer: String, keys: [VerificationKey], leewaySeconds: Int64 = 30, audience: String? = nil,
         maxLifetime: Duration? = nil, cacheCapacity: Int) {
        self.issuer = issuer
        self.keys = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.leeway = leewaySeconds
        self.audience = audience
        self.maxLifetimeSeconds = maxLifetime?.components.seconds
        self.verified = VerifiedTokens(capacity: cacheCapacity)
    }

    /// How many verified tokens are remembered now.
    var rememberedTokens: Int { verified.count }

    /// The claims of `token` if it is well-formed, signed with EdDSA by a known key,
    /// from the expected issuer, of the expected kind, and not expired.
    ///
    /// A token whose signature was checked before is not checked again: the claims of
    /// recently verified tokens are kept, keyed by the token's exact text, and only the
    /// kind and the times are checked on every call. The signature check is most of a
    /// call's cost on a service whose clients send the same token call after call.
    public func verify(_ token: String, kind: TokenKind, now: UnixTime = .now) throws(AuthError) -> TokenClaims {
        let label = kind == .user ? "access token" : "service credential"
        // A JWT is ASCII. Refusing anything else before the lookup also keeps the memory
        // byte-exact: Swift compares strings by Unicode equivalence, under which a
        // non-ASCII look-alike of a remembered token would otherwise match it.
        var text = token  // withUTF8 reads a native string in place; utf8.allSatisfy walks it slowly
        guard text.withUTF8({ $0.allSatisfy { $0 < 0x80 } }) else {
            throw .invalidToken("the \(label) is not a well-formed JWT")
        }
        let claims: TokenClaims
        if let cached = verified.claims(of: token) {
            claims = cached
        } else {
            claims = try signedClaims(of: token, label: label)
            if now.seconds - leeway < claims.expiresAt { verified.insert(claims, for: token, now: now.seconds - leeway) }
        }
        guard claims.kind == kind else {
            throw AuthError(kind: .wrongTokenKind, message: kind == .service
                ? "this method accepts only a service credential, not a user's token"
                : "this method accepts only a user's access token, not a service credential")
        }
        // Arithmetic on `now` only: a claim may be any Int64 (e.g. exp = 2^63 - 1), and
        // adding the leeway to it would trap.
        guard now.seconds - leeway < claims.expiresAt else {
            throw AuthError(kind: .expiredToken, message: "the \(label) has expired; obtain a new one")
        }
        guard claims.issuedAt <= now.seconds + leeway, (claims.notBefore ?? .min) <= now.seconds + leeway else {
            throw .invalidToken("the \(label) is not valid yet")
        }
        if let audience, claims.audience != audience {
            throw .invalidToken(claims.audience.map { "the \(label) is for \($0), not \(audience)" }
                ?? "the \(label) names no audience; it must be made for \(audience)")
        }
        if let maxLifetimeSeconds {
            let (lifetime, overflow) = claims.expiresAt.subtractingReportingOverflow(claims.issuedAt)
            guard !overflow, lifetime <= maxLifetimeSeconds else {
                throw .invalidToken("the \(label) is valid for longer than the \(maxLifetimeSeconds) s this service accepts")
            }
        }
        return claims
    }

    /// The claims of a well-formed token signed by a known key and issued by `issuer`;
    /// neither its kind nor its times are checked here.
    private func signedClaims(of token: String, label: String) throws(AuthError) -> TokenClaims {
        guard token.utf8.count <= Self.maxTokenLength else {
            throw .invalidToken("the \(label) is too long")
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Sodium.fromBase64URL(parts[0]),
              let payloadBytes = Sodium.fromBase64URL(parts[1]),
              let signature = Sodium.fromBase64URL(parts[2]) else {
            throw .invalidToken("the \(label) is not a well-formed JWT")
        }
        guard case .object(let header)? = try? JSONParser.parse(headerBytes, maxDepth: 4),
              case .object(let payload)? = try? JSONParser.parse(payloadBytes, maxDepth: 4) else {
            throw .invalidToken("the \(label) is not a well-formed JWT")
        }
        // Only EdDSA: `none`, HMAC and everything else are refused before looking at the signature.
        guard header.string("alg") == "EdDSA" else {
            throw .invalidToken("the \(label) is not signed with an accepted algorithm")
        }
        guard let keyID = header.string("kid"), let key = keys[keyID] else {
            throw .invalidToken("the \(label) is signed with an unknown key")
        }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard key.verify(signature, of: signingInput) else {
            throw .invalidToken("the \(label)'s signature is not valid")
        }
        guard payload.string("iss") == issuer else {
            throw .invalidToken("the \(label) was not issued by \(issuer)")
        }
        guard let subject = payload.string("sub"), !subject.isEmpty,
              let expiresAt = payload.integer("exp"), let issuedAt = payload.integer("iat"),
              let kindName = payload.string("typ"), let tokenKind = TokenKind(rawValue: kindName) else {
            throw .invalidToken("the \(label) lacks a required claim")
        }
        var notBefore: Int64?
        if payload.members.contains(where: { $0.key == "nbf" }) {
            guard let value = payload.integer("nbf") else { throw .invalidToken("the \(label)'s nbf claim is not a number of seconds") }
            notBefore = value
        }
        return TokenClaims(issuer: issuer, subject: subject, kind: tokenKind, issuedAt: issuedAt,
                           expiresAt: expiresAt, notBefore: notBefore, keyID: keyID, audience: payload.string("aud"))
    }

    /// Verifies the `authorization: Bearer <token>` metadata of a call.
    public func verify(metadata: Metadata, kind: TokenKind, now: UnixTime = .now) throws(AuthError) -> TokenClaims {
        guard let header = metadata["authorization"] else {
            throw .invalidToken(kind == .user
                ? "this method needs an access token: send `authorization: Bearer <token>`"
                : "this method needs a service credential: send `authorization: Bearer <token>`")
        }
        // The scheme is case-insensitive (RFC 9110); compared as bytes, since this runs on
        // every call and the header is a few hundred bytes.
        let bytes = header.utf8
        let scheme = "bearer ".utf8
        guard bytes.count > scheme.count,
              bytes.prefix(scheme.count).elementsEqual(scheme, by: { $1 == 0x20 ? $0 == 0x20 : ($0 | 0x20) == $1 }) else {
            throw .invalidToken("the authorization metadata must be `Bearer <token>`")
        }
        return try verify(String(Substring(bytes.dropFirst(scheme.count))), kind: kind, now: now)
    }
}

/// The claims of tokens whose signature was verified, by the token's text; bounded.
final class VerifiedTokens: Sendable {
    private let capacity: Int
    private let entries = Mutex<[String: TokenClaims]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { entries.withLock { $0.count } }

    func claims(of token: String) -> TokenClaims? {
        entries.withLock { $0[token] }
    }

    /// Remembers `claims`; when full, first forgets the tokens expired by `now`, and
    /// everything if that is not enough.
    func insert(_ claims: TokenClaims, for token: String, now: Int64) {
        guard capacity > 0 else { return }
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expiresAt > now }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[token] = claims
        }
    }
}

extension JSONObject {
    func string(_ key: String) -> String? {
        for member in members where member.key == key {
            if case .string(let text) = member.value { return text }
        }
        return nil
    }

    func integer(_ key: String) -> Int64? {
        for member in members where member.key == key {
            if case .number(let literal) = member.value { return Int64(literal) }
        }
        return nil
    }
}

/// Service credentials: what one service signs to call another's internal rpcs.
public enum ServiceCredentials {
    /// The issuer every service credential names.
    public static let issuer = "souk-services"
    /// The longest validity a callee accepts; callers sign theirs for a minute.
    public static let maxLifetime = Duration.seconds(5 * 60)
    public static let lifetime = Duration.seconds(60)

    /// The verifier of credentials made for `service` (e.g. `souk-users`) with one of `keys`.
    public static func verifier(for service: String, keys: [VerificationKey]) -> TokenVerifier {
        TokenVerifier(issuer: issuer, keys: keys, audience: service, maxLifetime: maxLifetime)
    }

    /// A credential for `caller` (e.g. `souk-orders`) to call `callee`, signed with `key`.
    public static func issue(caller: String, callee: String, key: SigningKey, now: UnixTime = .now) -> String {
        TokenIssuer(key: key, issuer: issuer, lifetime: lifetime).issue(subject: caller, kind: .service, audience: callee, now: now).token
    }
}

/// Entry points for the claims fuzzer (Tools/fuzz-claims): tokens whose payload is any
/// bytes, validly signed, so that the fuzzer reaches the claims parser and the checks
/// after it, which a forged signature never does.
package enum SoukAuthFuzzing {
    private static let key = try! SigningKey(fileContents: "fuzz AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    private static let verifier = TokenVerifier(issuer: "souk-users", keys: [key.verificationKey],
                                                audience: nil, maxLifetime: nil, cacheCapacity: 64)
    private static let serviceVerifier = ServiceCredentials.verifier(for: "souk-users", keys: [key.verificationKey])

    /// Signs `payload` as a token's claims and verifies it every way a service would, at
    /// a few instants; never traps, whatever the bytes.
    package static func verifySigned(payload: [UInt8]) {
        let header = Sodium.base64URL(Array(#"{"alg":"EdDSA","typ":"JWT","kid":"fuzz"}"#.utf8))
        let signingInput = header + "." + Sodium.base64URL(payload)
        let token = signingInput + "." + Sodium.base64URL(key.sign(Array(signingInput.utf8)))
        for now: Int64 in [0, 1_800_000_000, 4_000_000_000] {  // clock readings: trusted, unlike claims
            for kind in [TokenKind.user, .service] {
                _ = try? verifier.verify(token, kind: kind, now: UnixTime(seconds: now))
                _ = try? serviceVerifier.verify(token, kind: kind, now: UnixTime(seconds: now))
            }
        }
        // The same bytes as a whole token, unsigned: the parser before the signature check.
        _ = try? verifier.verify(String(decoding: payload, as: UTF8.self), kind: .user, now: UnixTime(seconds: 1_800_000_000))
    }
}
