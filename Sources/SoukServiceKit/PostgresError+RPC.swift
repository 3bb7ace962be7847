import Logging
import SoukPostgres
import SoukRPCCore

extension PostgresError {
    /// The RPC status a handler should answer with when this error escapes a repository:
    /// unique violation → ALREADY_EXISTS; foreign-key, check, not-null and exclusion
    /// violations → FAILED_PRECONDITION; connection failures and acquire timeouts →
    /// UNAVAILABLE; serialization failures and deadlocks that outlived their retries →
    /// ABORTED; a statement timeout → DEADLINE_EXCEEDED; everything else → INTERNAL.
    public var rpcStatusCode: RPCStatusCode {
        if isConnectionFailure { return .unavailable }
        switch sqlState {
        case SQLState.uniqueViolation: return .alreadyExists
        case SQLState.foreignKeyViolation, SQLState.checkViolation, SQLState.notNullViolation, SQLState.exclusionViolation:
            return .failedPrecondition
        case SQLState.serializationFailure, SQLState.deadlockDetected: return .aborted
        case SQLState.queryCanceled: return .deadlineExceeded
        default: return .internal
        }
    }

    /// The error to send to an RPC caller. Its message is generic: table, constraint and
    /// value names stay on the server, in the log (at error level for INTERNAL, where they
    /// are the only clue; at debug level otherwise).
    public func rpcError(logger: Logger) -> RPCError {
        let code = rpcStatusCode
        let message: String
        switch code {
        case .alreadyExists: message = "already exists"
        case .failedPrecondition:
            message = sqlState == SQLState.foreignKeyViolation
                ? "refers to something that does not exist, or is still referred to"
                : "violates a data constraint"
        case .unavailable: message = "the database is unavailable"
        case .aborted: message = "conflicting concurrent update; retry"
        case .deadlineExceeded: message = "the database statement timed out"
        default: message = "internal error"
        }
        let metadata: Logger.Metadata = [
            "postgres.error": "\(self)",
            "postgres.sqlstate": "\(sqlState ?? "")",
            "rpc.code": "\(code.name)",
        ]
        logger.log(level: code == .internal ? .error : .debug, "database error mapped to \(code.name)", metadata: metadata)
        return RPCError(code, message)
    }
}

extension RPCError {
    /// Maps anything a SoukPostgres call throws to the status to send: `PostgresError` by its
    /// `rpcStatusCode`, cancellation → CANCELLED, an `RPCError` as it is, and anything else
    /// (a decoding error, a migration error) → INTERNAL with a generic message, logged in full.
    public init(postgres error: any Error, logger: Logger) {
        switch error {
        case let error as RPCError:
            self = error
        case let error as PostgresError:
            self = error.rpcError(logger: logger)
        case is CancellationError:
            self = RPCError(.cancelled, "cancelled")
        default:
            logger.error("database error mapped to INTERNAL", metadata: ["error": "\(error)"])
            self = RPCError(.internal, "internal error")
        }
    }
}
