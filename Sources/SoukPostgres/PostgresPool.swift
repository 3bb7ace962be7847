import Logging
import ServiceLifecycle

/// Anything that runs statements: the pool, a connection lent by it, a transaction.
/// Repositories take `some PostgresQueryExecutor` so one method serves all three.
public protocol PostgresQueryExecutor: Sendable {
    /// Runs one statement and returns its rows (empty for commands).
    func query(_ query: SQLQuery) async throws -> PostgresRows

    /// Runs one SELECT whose only effect is its rows, like ``query(_:)``; the pool may send it
    /// together with other such reads under one sync, as one implicit transaction, so that
    /// the server answers them all in one flush. Only for statements that write nothing, lock
    /// nothing and set nothing, not even through a function: for anything else, `query`.
    func read(_ query: SQLQuery) async throws -> PostgresRows
}

extension PostgresQueryExecutor {
    /// A connection or a transaction runs a read like any statement.
    public func read(_ query: SQLQuery) async throws -> PostgresRows {
        try await self.query(query)
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: SQLQuery) async throws -> Int {
        try await self.query(query).affectedRows
    }
}

/// A pool of PostgreSQL connections, the entry point of SoukPostgres.
///
/// ```swift
/// let db = try PostgresPool(url: url, options: .init(maxConnections: 8), logger: logger)
/// // run it beside the server, in a ServiceGroup or a task group:
/// try await db.run()
/// let rows = try await db.query("SELECT name FROM users WHERE id = \(id)")
/// try await db.transaction(isolation: .serializable) { tx in … }
/// ```
///
/// Each connection belongs to a thread of its own on which its blocking libpq calls run,
/// so no call here ever blocks a NIO event loop or Swift's cooperative thread pool (see
/// `PoolCore` for the reasoning). Statements outside a scope go to whichever connection is
/// free first. Connections open on demand up to `maxConnections` and close after
/// `idleTimeout` down to `minConnections`. A connection idle for a moment is probed before
/// use, one idle for `pingAfterIdle` is pinged, and one that broke is closed, never reused,
/// and replaced by a new connection on the next demand: the pool rides out a server restart
/// by itself. Work that finds no connection within `acquireTimeout` fails with
/// `PostgresError.Kind.acquireTimeout` (UNAVAILABLE); work that finds the server down fails
/// at once with `.connectionFailed` (UNAVAILABLE).
///
/// `run()` ties the pool to service-lifecycle: it returns after graceful shutdown or
/// cancellation, having closed every connection. A pool used without `run()` must be
/// closed with `shutdown()`.
public final class PostgresPool: PostgresQueryExecutor, Service {
    /// Sizes and timings of the pool.
    public struct Options: Sendable {
        /// Connections kept open even when idle (opened at start).
        public var minConnections: Int
        /// The most connections open at once.
        public var maxConnections: Int
        /// How long work may wait for a free connection before failing as UNAVAILABLE.
        public var acquireTimeout: Duration
        /// How long a connection above `minConnections` stays open unused.
        public var idleTimeout: Duration
        /// A connection unused this long runs `SELECT 1` before it is trusted again.
        public var pingAfterIdle: Duration

        public init(minConnections: Int = 0, maxConnections: Int = 10, acquireTimeout: Duration = .seconds(5),
                    idleTimeout: Duration = .seconds(60), pingAfterIdle: Duration = .seconds(30)) {
            precondition(maxConnections >= 1 && minConnections >= 0 && minConnections <= maxConnections,
                         "0 <= minConnections <= maxConnections, maxConnections >= 1")
            self.minConnections = minConnections
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.idleTimeout = idleTimeout
            self.pingAfterIdle = pingAfterIdle
        }
    }

    let core: PoolCore

    /// The configuration the pool connects with.
    public var configuration: PostgresConfiguration { core.configuration }
    public var options: Options { core.options }

    public init(configuration: PostgresConfiguration, options: Options = Options(),
                logger: Logger = Logger(label: "souk.postgres")) {
        core = PoolCore(configuration: configuration, options: options, logger: logger)
    }

    /// A pool for a `postgres://` URL; see `PostgresConfiguration` for the forms accepted.
    public convenience init(url: String, applicationName: String? = nil, statementTimeout: Duration? = nil,
                            options: Options = Options(), logger: Logger = Logger(label: "souk.postgres")) throws {
        var configuration = try PostgresConfiguration(url: url)
        configuration.applicationName = applicationName ?? configuration.applicationName
        configuration.statementTimeout = statementTimeout
        self.init(configuration: configuration, options: options, logger: logger)
    }

    /// Runs one statement on whichever connection is free first.
    ///
    /// Cancelling the task drops the statement if it is still waiting, or asks the server
    /// to cancel it (`PQcancel`) if it runs, and throws `CancellationError`.
    public func query(_ query: SQLQuery) async throws -> PostgresRows {
        try await enqueue(query, isRead: false)
    }

    /// Runs one SELECT whose only effect is its rows (see ``PostgresQueryExecutor/read(_:)``).
    /// Reads queued at the same moment go out as one pipeline under one sync; when one of them
    /// fails, the others run again, each on its own. A statement that is not a plain SELECT
    /// (``SQLQuery/isPlainSelect``) runs as ``query(_:)`` would.
    public func read(_ query: SQLQuery) async throws -> PostgresRows {
        try await enqueue(query, isRead: query.isPlainSelect)
    }

    /// One statement through the pool's queue.
    private func enqueue(_ query: SQLQuery, isRead: Bool) async throws -> PostgresRows {
        try Task.checkCancellation()
        let job = Job(payload: .query(query), cancellable: true, deadline: acquireDeadline(), isRead: isRead)
        return try await core.perform(job) { core.submit(.job(job)) }
    }

    /// Lends one connection to `body` for its whole run, for statements that must share a
    /// session (advisory locks, temporary tables, `SET`). The connection goes back to the
    /// pool when `body` returns or throws; using it afterwards throws `.usedOutsideScope`.
    /// A transaction left open by `body` is rolled back by closing the connection.
    public func withConnection<Result>(
        callerIsolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let lease = try await acquireLease()
        defer { release(lease) }
        return try await body(PostgresConnection(lease: lease, core: core))
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws or the
    /// task is cancelled.
    ///
    /// A serialization failure (40001) or deadlock (40P01) — thrown by a statement in `body`
    /// or by COMMIT — rolls back and runs `body` again, up to `maxAttempts` runs in all, after
    /// a short jittered pause. `body` may therefore run more than once: keep effects outside
    /// the database out of it.
    public func transaction<Result>(
        isolation: PostgresIsolationLevel = .readCommitted,
        readOnly: Bool = false,
        maxAttempts: Int = 3,
        callerIsolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresTransaction) async throws -> Result
    ) async throws -> Result {
        precondition(maxAttempts >= 1)
        var attempt = 1
        while true {
            do {
                return try await withConnection { connection in
                    try await connection.runTransaction(isolation: isolation, readOnly: readOnly, body)
                }
            } catch let error as PostgresError where error.isRetryableTransactionFailure && attempt < maxAttempts {
                core.logger.debug("retrying a transaction", metadata: ["attempt": "\(attempt)", "sqlstate": "\(error.sqlState ?? "")"])
                // 5 ms, 10 ms, 20 ms … with ±50 % jitter, so the conflicting transactions part ways.
                let base = 5_000_000 << min(attempt - 1, 6)
                try await Task.sleep(nanoseconds: UInt64(Double(base) * Double.random(in: 0.5 ... 1.5)))
                attempt += 1
            }
        }
    }

    /// Keeps the pool open until graceful shutdown or cancellation, then shuts it down.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Fails waiting work, lets running work and open scopes finish, closes every connection.
    /// Idempotent; later work fails with `.poolClosed`.
    public func shutdown() async {
        await core.shutdown()
    }

    private func acquireDeadline() -> UInt64 {
        monotonicNanoseconds() &+ core.options.acquireTimeout.nanoseconds
    }

    private func acquireLease() async throws -> Lease {
        try Task.checkCancellation()
        let request = LeaseRequest(deadline: acquireDeadline())
        let core = core
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                core.mutex.withLock { request.continuation = continuation }
                core.submit(.lease(request))
            }
        } onCancel: {
            core.cancel(request)
        }
    }

    private func release(_ lease: Lease) {
        let orphans: [Job] = core.mutex.withLock {
            lease.released = true
            defer { lease.worker.leaseJobs = [] }
            return lease.worker.leaseJobs
        }
        lease.worker.condition.signal()
        let error = PostgresError(kind: .usedOutsideScope, message: "the connection's scope ended while this statement waited")
        orphans.forEach { core.fail(.job($0), error) }
    }
}

extension PoolCore {
    /// Suspends until `job` completes; `submit` hands it to the pool or a lease.
    func perform(_ job: Job, submit: () -> Void) async throws -> PostgresRows {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresRows, any Error>) in
                mutex.withLock { job.continuation = continuation }
                submit()
            }
        } onCancel: {
            cancel(job)
        }
    }
}
