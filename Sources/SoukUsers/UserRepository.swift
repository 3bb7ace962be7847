import Foundation
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukServiceKit

/// A user as the users database stores it.
struct UserRecord: Sendable {
    var id: UUID
    var email: String
    var fullName: String
    var passwordHash: String
    var status: UserStatus
    var createdAt: Google_Protobuf_Timestamp

    /// The contract's view: never the password hash.
    var message: User {
        var user = User()
        user.id = id.lowercasedText
        user.email = email
        user.fullName = fullName
        user.createdAt = createdAt
        return user
    }
}

/// The SQL of the users service; nothing else in the service writes SQL.
struct UserRepository: Sendable {
    let database: PostgresPool

    func insert(id: UUID, email: String, fullName: String, passwordHash: String) async throws -> UserRecord {
        let rows = try await database.query("""
            INSERT INTO users (user_id, email, email_key, full_name, password_hash)
            VALUES (\(id), \(email), \(UserRules.emailKey(email)), \(fullName), \(passwordHash))
            RETURNING user_id, email, full_name, password_hash, status, created_at
            """)
        return try Self.record(rows)!
    }

    func find(id: UUID) async throws -> UserRecord? {
        try Self.record(await database.read("""
            SELECT user_id, email, full_name, password_hash, status, created_at
            FROM users WHERE user_id = \(id)
            """))
    }

    /// The user whose email has `emailKey` (``UserRules/emailKey(_:)``).
    func find(emailKey: String) async throws -> UserRecord? {
        try Self.record(await database.read("""
            SELECT user_id, email, full_name, password_hash, status, created_at
            FROM users WHERE email_key = \(emailKey)
            """))
    }

    /// Renames an active user; nil when there is no active user `id` (missing or disabled).
    func updateFullName(id: UUID, fullName: String) async throws -> UserRecord? {
        try Self.record(await database.query("""
            UPDATE users SET full_name = \(fullName), updated_at = now() WHERE user_id = \(id) AND status = 'active'
            RETURNING user_id, email, full_name, password_hash, status, created_at
            """))
    }

    /// Replaces a hash with a stronger one, unless the password changed meanwhile.
    func replacePasswordHash(id: UUID, old: String, new: String) async throws {
        _ = try await database.execute("""
            UPDATE users SET password_hash = \(new) WHERE user_id = \(id) AND password_hash = \(old)
            """)
    }

    // MARK: Sign-in throttling

    /// What ``reserveSignInAttempt(emailKey:maxAttempts:window:)`` decided.
    enum SignInAttempt {
        /// The attempt is counted (the `count`-th of its window): check the password.
        case reserved(count: Int)
        /// No attempt is left: locked until then, or (nil) until a reserved attempt ends.
        case refused(lockedUntil: Date?)
    }

    /// Counts a sign-in attempt for `emailKey` before its password is checked, in one
    /// statement, so that however many attempts arrive at once no more than
    /// `maxAttempts` per window are ever checked. A window starts afresh when the last
    /// one is over or its lock has expired.
    func reserveSignInAttempt(emailKey: String, maxAttempts: Int, window: Duration) async throws -> SignInAttempt {
        let windowSeconds = Double(window.components.seconds)
        let max = Int32(maxAttempts)
        let rows = try await database.query("""
            INSERT INTO login_failures AS f (email_key, failures, window_started_at)
            VALUES (\(emailKey), 1, now())
            ON CONFLICT (email_key) DO UPDATE SET
                failures = CASE WHEN f.window_started_at < now() - make_interval(secs => \(windowSeconds))
                                  OR f.locked_until <= now()
                                THEN 1 ELSE f.failures + 1 END,
                window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => \(windowSeconds))
                                           OR f.locked_until <= now()
                                         THEN now() ELSE f.window_started_at END,
                locked_until = NULL
            WHERE (f.locked_until IS NULL OR f.locked_until <= now())
              AND (f.failures < \(max)
                   OR f.window_started_at < now() - make_interval(secs => \(windowSeconds))
                   OR f.locked_until <= now())
            RETURNING failures
            """)
        if let count = try rows.first?.decode("failures", as: Int32.self) {
            return .reserved(count: Int(count))
        }
        let locked = try await database.read("""
            SELECT locked_until FROM login_failures WHERE email_key = \(emailKey) AND locked_until > now()
            """)
        return .refused(lockedUntil: try locked.first?.decode("locked_until", as: Date.self))
    }

    /// Blocks `emailKey`'s sign-ins for `lockout`, after its last allowed attempt failed.
    func lockSignIns(emailKey: String, lockout: Duration) async throws -> Date {
        let lockoutSeconds = Double(lockout.components.seconds)
        let rows = try await database.query("""
            UPDATE login_failures SET locked_until = now() + make_interval(secs => \(lockoutSeconds))
            WHERE email_key = \(emailKey)
            RETURNING locked_until
            """)
        return try rows.first?.decode("locked_until", as: Date.self) ?? Date().addingTimeInterval(lockoutSeconds)
    }

    /// Gives back an attempt that was reserved but never checked.
    func refundSignInAttempt(emailKey: String) async throws {
        _ = try await database.execute("""
            UPDATE login_failures SET failures = failures - 1 WHERE email_key = \(emailKey) AND failures > 1
            """)
    }

    /// Deletes the throttle rows whose window is over and that no lock holds, so that
    /// guesses at unknown emails do not pile up rows for ever.
    func purgeExpiredSignInAttempts(window: Duration) async throws {
        let windowSeconds = Double(window.components.seconds)
        _ = try await database.execute("""
            DELETE FROM login_failures
            WHERE window_started_at < now() - make_interval(secs => \(windowSeconds))
              AND (locked_until IS NULL OR locked_until <= now())
            """)
    }

    func clearFailures(emailKey: String) async throws {
        _ = try await database.execute("DELETE FROM login_failures WHERE email_key = \(emailKey)")
    }

    // MARK: Rows

    private static func record(_ rows: PostgresRows) throws -> UserRecord? {
        guard let row = rows.first else { return nil }
        let status: UserStatus = try row.decode("status", as: String.self) == "disabled" ? .disabled : .active
        return UserRecord(
            id: try row.decode("user_id"), email: try row.decode("email"), fullName: try row.decode("full_name"),
            passwordHash: try row.decode("password_hash"), status: status,
            createdAt: try row.decode("created_at"))
    }
}
