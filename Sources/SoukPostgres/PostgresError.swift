/// Something that went wrong talking to PostgreSQL: an error the server reported (with its
/// SQLSTATE and the fields libpq exposes), or a failure on the client's side of the wire.
///
/// Map it to an RPC status with `rpcError(logger:)` (SoukServiceKit); never send `message` or `detail` to a caller
/// as they are: they can name tables, columns and values.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The server answered a statement with an error; `sqlState` says which.
        case server
        /// A connection could not be opened (server down, refused, wrong password, …).
        case connectionFailed
        /// An open connection broke while in use; the statement may or may not have run.
        case connectionLost
        /// No connection became free within the pool's acquire timeout.
        case acquireTimeout
        /// The pool has been shut down.
        case poolClosed
        /// A `PostgresConnection` or transaction was used after its scope ended.
        case usedOutsideScope
        /// The server closed the transaction before COMMIT (an error inside it was caught and
        /// swallowed), so COMMIT rolled back.
        case transactionRolledBack
        /// A misuse or malfunction on the client side (see `message`).
        case client
    }

    public var kind: Kind
    /// The five-character SQLSTATE, e.g. `23505`; set for server errors.
    public var sqlState: String?
    /// The primary message (server or libpq).
    public var message: String
    public var detail: String?
    public var hint: String?
    public var severity: String?
    public var schema: String?
    public var table: String?
    public var column: String?
    public var constraint: String?
    public var dataType: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
                severity: String? = nil, schema: String? = nil, table: String? = nil, column: String? = nil,
                constraint: String? = nil, dataType: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.severity = severity
        self.schema = schema
        self.table = table
        self.column = column
        self.constraint = constraint
        self.dataType = dataType
    }

    public var description: String {
        var text: String
        switch kind {
        case .server: text = "PostgreSQL \(severity ?? "ERROR") \(sqlState ?? "?????"): \(message)"
        case .connectionFailed: text = "cannot connect to PostgreSQL: \(message)"
        case .connectionLost: text = "connection to PostgreSQL lost: \(message)"
        case .acquireTimeout: text = "no PostgreSQL connection available: \(message)"
        case .poolClosed: text = "the PostgreSQL pool is shut down"
        case .usedOutsideScope: text = "a PostgreSQL connection was used outside its scope: \(message)"
        case .transactionRolledBack: text = "PostgreSQL transaction rolled back: \(message)"
        case .client: text = "PostgreSQL client error: \(message)"
        }
        // Never the detail: it holds row values ("Failing row contains (…)", "Key (email)=(…)"),
        // which may be secrets, and this text is what logs show.
        if let constraint { text += " (constraint: \(constraint))" }
        return text
    }

    /// A serialization failure or deadlock: the transaction can be run again.
    public var isRetryableTransactionFailure: Bool {
        sqlState == SQLState.serializationFailure || sqlState == SQLState.deadlockDetected
    }

    /// True when the connection, not the statement, is what failed: the server cannot be
    /// reached, shut down, or the link broke.
    public var isConnectionFailure: Bool {
        switch kind {
        case .connectionFailed, .connectionLost, .acquireTimeout, .poolClosed: return true
        case .server:
            guard let sqlState else { return false }
            return sqlState.hasPrefix("08") || SQLState.unavailable.contains(sqlState)
        case .usedOutsideScope, .transactionRolledBack, .client: return false
        }
    }
}

/// SQLSTATE codes the library and its users test for.
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let foreignKeyViolation = "23503"
    public static let checkViolation = "23514"
    public static let notNullViolation = "23502"
    public static let exclusionViolation = "23P01"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let queryCanceled = "57014"
    public static let adminShutdown = "57P01"
    public static let crashShutdown = "57P02"
    public static let cannotConnectNow = "57P03"
    public static let tooManyConnections = "53300"
    public static let featureNotSupported = "0A000"
    public static let invalidSQLStatementName = "26000"
    /// Server states that mean "try again later, elsewhere".
    static let unavailable: Set<String> = [adminShutdown, crashShutdown, cannotConnectNow, tooManyConnections]
}
