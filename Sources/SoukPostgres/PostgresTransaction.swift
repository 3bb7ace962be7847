/// The isolation level of a transaction (PostgreSQL has no true READ UNCOMMITTED).
public enum PostgresIsolationLevel: Sendable, Hashable {
    case readCommitted
    case repeatableRead
    case serializable

    var sql: String {
        switch self {
        case .readCommitted: "READ COMMITTED"
        case .repeatableRead: "REPEATABLE READ"
        case .serializable: "SERIALIZABLE"
        }
    }
}

/// The statements of one transaction, handed to the body of `PostgresPool.transaction`.
/// Valid inside that body only.
public struct PostgresTransaction: PostgresQueryExecutor {
    let connection: PostgresConnection

    public func query(_ query: SQLQuery) async throws -> PostgresRows {
        try await connection.query(query)
    }
}

extension PostgresConnection {
    /// BEGIN, body, COMMIT — or ROLLBACK on any error or cancellation.
    func runTransaction<Result>(
        isolation: PostgresIsolationLevel, readOnly: Bool,
        callerIsolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresTransaction) async throws -> Result
    ) async throws -> Result {
        try await script("BEGIN ISOLATION LEVEL \(isolation.sql)\(readOnly ? " READ ONLY" : "")", cancellable: true)
        do {
            let value = try await body(PostgresTransaction(connection: self))
            // A task cancelled while the body ran must not commit what it half did.
            try Task.checkCancellation()
            let commit = try await script("COMMIT", cancellable: false)
            if commit.commandTag == "ROLLBACK" {
                // The server answers COMMIT with ROLLBACK when an error inside the transaction
                // was caught and swallowed by the body.
                throw PostgresError(kind: .transactionRolledBack,
                                    message: "a statement in the transaction failed, so COMMIT rolled back")
            }
            return value
        } catch {
            // Runs even in a cancelled task; if the connection broke, the server rolls back.
            _ = try? await script("ROLLBACK", cancellable: false)
            throw error
        }
    }
}
