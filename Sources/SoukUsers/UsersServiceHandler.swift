import Foundation
import Logging
import SoukAuth
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukRPCCore
import SoukServiceKit
import SoukWire
import Synchronization

/// Serves `souk.users.v1.UsersService`: registration, sign-in, profiles, and the
/// internal "is this user real and active?" lookup for other services.
public struct UsersServiceHandler: UsersService.Handler {
    /// What the service needs besides its database.
    public struct Configuration: Sendable {
        /// Signs the access tokens Authenticate hands out.
        public var tokenIssuer: TokenIssuer
        /// Verifies users' access tokens (the issuer's public keys).
        public var userTokens: TokenVerifier
        /// Verifies the service credentials internal rpcs demand.
        public var serviceCredentials: TokenVerifier
        public var passwordHasher: PasswordHasher
        /// Sign-in attempts for one email within `throttleWindow` after which it is blocked
        /// for `lockout` (an attempt is counted before its password is checked; a successful
        /// sign-in clears the count).
        public var maxFailedSignIns: Int = 5
        /// Sign-in attempts from one client address (any emails) within `throttleWindow`
        /// after which it is blocked for `lockout`; a successful sign-in gives its attempt
        /// back. Against spraying one password over many accounts.
        public var maxFailedSignInsPerPeer: Int = 100
        public var throttleWindow: Duration = .seconds(15 * 60)
        /// Whose `x-forwarded-for` names the client of a call, for the per-address throttle:
        /// the gateway's address. Behind it, every sign-in would otherwise count against the
        /// gateway, and one client's failures would lock everyone out.
        public var trustedProxies: TrustedProxies = .loopback
        public var lockout: Duration = .seconds(15 * 60)

        public init(tokenIssuer: TokenIssuer, userTokens: TokenVerifier, serviceCredentials: TokenVerifier,
                    passwordHasher: PasswordHasher = PasswordHasher()) {
            self.tokenIssuer = tokenIssuer
            self.userTokens = userTokens
            self.serviceCredentials = serviceCredentials
            self.passwordHasher = passwordHasher
        }
    }

    private let repository: UserRepository
    private let configuration: Configuration
    private let callers: CallerCheck
    private let logger: Logger
    /// A hash of no one's password: an unknown email is checked against it, so that it
    /// costs as long as a wrong password and the two answers cannot be told apart.
    private let decoyHash: String
    /// Expired throttle rows are purged by a sign-in, at most once a minute.
    private let purgeGate = OncePer(.seconds(60))

    public init(database: PostgresPool, configuration: Configuration, logger: Logger = Logger(label: "souk.users")) async throws {
        self.repository = UserRepository(database: database)
        self.configuration = configuration
        self.callers = CallerCheck(userTokens: configuration.userTokens, serviceCredentials: configuration.serviceCredentials)
        self.logger = logger
        self.decoyHash = try await configuration.passwordHasher.hash(UUID().uuidString + UUID().uuidString)
    }

    /// The migrations of the users database, shipped with this module.
    public static func migrations() throws -> [Migration] {
        try Migration.load(bundle: .module)
    }

    public func createUser(_ request: CreateUserRequest, context: ServerContext) async throws -> User {
        var request = request
        request.email = UserRules.trimmed(email: request.email)
        try UserRules.violations(of: request).throwIfAny()
        let hash = try await hashPassword(request.password)
        do {
            return try await repository.insert(id: UUID(), email: request.email, fullName: request.fullName,
                                               passwordHash: hash).message
        } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
            throw RPCError(.alreadyExists, "a user with this email already exists")
        } catch {
            throw RPCError(postgres: error, logger: logger)
        }
    }

    public func authenticate(_ request: AuthenticateRequest, context: ServerContext) async throws -> AuthenticateResponse {
        let refused = RPCError(.unauthenticated, "the email or the password is wrong")
        let email = UserRules.trimmed(email: request.email)
        // What sign-up would refuse cannot be anyone's email or password: refused unchecked.
        guard UserRules.emailProblem(email) == nil, UserRules.passwordProblem(request.password) == nil else {
            throw refused
        }
        let emailKey = UserRules.emailKey(email)
        let peerKey = "peer:" + configuration.trustedProxies.clientAddress(of: context)
        return try await usingDatabase(logger: logger) {
            try await purgeExpiredSignInAttemptsNowAndThen()
            // Spraying many accounts from one address is bounded too.
            let fromPeer = try await repository.reserveSignInAttempt(
                emailKey: peerKey, maxAttempts: configuration.maxFailedSignInsPerPeer, window: configuration.throttleWindow)
            guard case .reserved(let peerCount) = fromPeer else {
                throw RPCError(.resourceExhausted, "too many failed sign-ins from this address; try again later")
            }
            // The attempt is counted before the password is checked, atomically: guesses
            // sent all at once cannot each find the count still under the limit.
            let attempt = try await repository.reserveSignInAttempt(
                emailKey: emailKey, maxAttempts: configuration.maxFailedSignIns, window: configuration.throttleWindow)
            guard case .reserved(let count) = attempt else {
                if case .refused(let until) = attempt { throw throttled(until: until) }
                throw refused
            }
            let user = try await repository.find(emailKey: emailKey)
            // Unknown email or not, one Argon2id verification: the same work, the same answer.
            let matches: Bool
            do throws(AuthError) {
                matches = try await configuration.passwordHasher.verify(request.password, against: user?.passwordHash ?? decoyHash)
            } catch {
                // Not checked (every hashing worker busy): the attempt is not the caller's to lose.
                try await repository.refundSignInAttempt(emailKey: emailKey)
                try await repository.refundSignInAttempt(emailKey: peerKey)
                throw error.rpcError
            }
            guard let user, matches else {
                // The address's last allowed attempt failed: it is locked as an email would be
                // (a successful last attempt gives its count back instead).
                if peerCount >= configuration.maxFailedSignInsPerPeer {
                    _ = try await repository.lockSignIns(emailKey: peerKey, lockout: configuration.lockout)
                }
                if count >= configuration.maxFailedSignIns {
                    throw throttled(until: try await repository.lockSignIns(emailKey: emailKey, lockout: configuration.lockout))
                }
                throw refused
            }
            guard user.status == .active else { throw Self.disabled }
            try await repository.clearFailures(emailKey: emailKey)
            try await repository.refundSignInAttempt(emailKey: peerKey)
            if configuration.passwordHasher.needsRehash(user.passwordHash) {
                // The parameters were raised since this hash was made: the password is at hand, so upgrade it now.
                let stronger = try await hashPassword(request.password)
                try await repository.replacePasswordHash(id: user.id, old: user.passwordHash, new: stronger)
            }
            let (token, claims) = configuration.tokenIssuer.issue(subject: user.message.id, kind: .user)
            var response = AuthenticateResponse()
            response.accessToken = token
            response.tokenType = "Bearer"
            response.expiresIn = Int32(clamping: claims.expiresAt - claims.issuedAt)
            return response
        }
    }

    public func getCurrentUser(_ request: GetCurrentUserRequest, context: ServerContext) async throws -> User {
        let id = try callers.user(context)
        return try await usingDatabase(logger: logger) {
            guard let user = try await repository.find(id: id) else {
                throw RPCError(.notFound, "the user of this access token no longer exists")
            }
            guard user.status == .active else { throw Self.disabled }
            return user.message
        }
    }

    /// What every rpc of a disabled account answers, its unexpired tokens notwithstanding.
    static let disabled = RPCError(.permissionDenied, "this account is disabled")

    public func updateProfile(_ request: UpdateProfileRequest, context: ServerContext) async throws -> User {
        let id = try callers.user(context)
        var violations = FieldViolations()
        let paths = request.updateMask?.paths ?? []
        if paths.isEmpty {
            violations.add("update_mask", "must name the fields to change, e.g. [\"full_name\"]")
        }
        for path in Set(paths) where path != "full_name" {
            violations.add("update_mask", "\"\(path)\" is not a field of the profile that can be changed; the only one is full_name")
        }
        let profile = request.profile ?? ProfileUpdate()
        if paths.contains("full_name"), let problem = UserRules.fullNameProblem(profile.fullName) {
            violations.add("profile.full_name", problem)
        }
        try violations.throwIfAny()
        return try await usingDatabase(logger: logger) {
            guard let user = try await repository.updateFullName(id: id, fullName: profile.fullName) else {
                // Nothing was changed: say whether the account is gone or disabled.
                if try await repository.find(id: id) == nil {
                    throw RPCError(.notFound, "the user of this access token no longer exists")
                }
                throw Self.disabled
            }
            return user.message
        }
    }

    public func getUser(_ request: GetUserRequest, context: ServerContext) async throws -> GetUserResponse {
        _ = try callers.service(context)
        let id = try FieldViolations.requireID(request.userId, field: "user_id", what: "a user id")
        return try await usingDatabase(logger: logger) {
            guard let user = try await repository.find(id: id) else {
                throw RPCError(.notFound, "no user has id \(request.userId)")
            }
            var response = GetUserResponse()
            response.user = user.message
            response.status = user.status
            return response
        }
    }

    // MARK: Helpers

    private func hashPassword(_ password: String) async throws(RPCError) -> String {
        do {
            return try await configuration.passwordHasher.hash(password)
        } catch {
            logger.error("password hashing failed", metadata: ["error": "\(error.message)"])
            throw error.rpcError
        }
    }

    /// Purges expired throttle rows, at most once a minute.
    private func purgeExpiredSignInAttemptsNowAndThen() async throws {
        if purgeGate.isDue() { try await repository.purgeExpiredSignInAttempts(window: configuration.throttleWindow) }
    }

    /// RESOURCE_EXHAUSTED for a blocked email: until then, or (nil) for as long as the
    /// attempts still being checked take, and at most the lockout.
    private func throttled(until: Date?) -> RPCError {
        let wait = until?.timeIntervalSinceNow ?? Double(configuration.lockout.components.seconds)
        let minutes = max(1, Int((wait / 60).rounded(.up)))
        return RPCError(.resourceExhausted,
                        "too many failed sign-ins for this email; try again in \(minutes) minute\(minutes == 1 ? "" : "s")")
    }
}

/// Says yes the first time, then at most once per interval.
final class OncePer: Sendable {
    private let interval: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(_ interval: Duration) {
        self.interval = interval
    }

    func isDue() -> Bool {
        let now = ContinuousClock.now
        return last.withLock { last in
            if let previous = last, now - previous < interval { return false }
            last = now
            return true
        }
    }
}
