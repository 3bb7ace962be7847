/// A connection lent by `PostgresPool.withConnection`, valid inside that scope only.
///
/// Statements sent concurrently on one connection (from child tasks) run one after the other.
public struct PostgresConnection: PostgresQueryExecutor {
    let lease: Lease
    let core: PoolCore

    /// Runs one statement on this connection. Cancelling the task cancels the statement.
    public func query(_ query: SQLQuery) async throws -> PostgresRows {
        try Task.checkCancellation()
        return try await run(.query(query), cancellable: true)
    }

    /// Runs trusted SQL through the simple protocol (transaction control, migration files).
    @discardableResult
    func script(_ sql: String, cancellable: Bool) async throws -> PostgresRows {
        try await run(.script(sql), cancellable: cancellable)
    }

    private func run(_ payload: JobPayload, cancellable: Bool) async throws -> PostgresRows {
        let job = Job(payload: payload, cancellable: cancellable, deadline: .max)
        let lease = lease
        let core = core
        return try await core.perform(job) {
            core.mutex.lock()
            if lease.released {
                core.mutex.unlock()
                core.fail(.job(job), PostgresError(kind: .usedOutsideScope,
                                                   message: "a connection from withConnection or transaction was used after its scope ended"))
                return
            }
            if job.cancelRequested {
                core.mutex.unlock()
                core.fail(.job(job), CancellationError())
                return
            }
            job.location = .leaseQueue(lease.worker)
            lease.worker.leaseJobs.append(job)
            core.mutex.unlock()
            lease.worker.condition.signal()
        }
    }
}
