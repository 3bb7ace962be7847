import Logging
import SoukPostgres
import SoukRPCCore

/// Runs `body`, which uses the database: the statuses it throws itself pass through, and
/// any other error is the database failing, mapped to a status (UNAVAILABLE when it is
/// unreachable or overloaded, INTERNAL otherwise) and logged without its SQL or values.
public func usingDatabase<T>(logger: Logger, _ body: () async throws -> T) async throws(RPCError) -> T {
    do {
        return try await body()
    } catch let error as RPCError {
        throw error
    } catch {
        throw RPCError(postgres: error, logger: logger)
    }
}
