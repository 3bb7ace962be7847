import Dispatch
import Foundation
import Logging

/// The machinery behind `PostgresPool`: a queue of work, a set of worker threads each owning
/// one libpq connection, and a timer thread that fails work waiting past its deadline.
///
/// Why threads: libpq's blocking calls are simple and complete (connect, TLS, auth, every
/// protocol corner), and a connection serves one statement at a time anyway. A dedicated
/// thread per connection runs those calls where they block nobody — not a NIO event loop,
/// not Swift's cooperative pool — and hands results back by resuming a continuation. A
/// worker that finishes a statement takes the next queued item without sleeping, so under
/// load the only thread hop per statement is the continuation's resume.
///
/// @unchecked Sendable: every mutable field is guarded by `mutex`.
final class PoolCore: @unchecked Sendable {
    let configuration: PostgresConfiguration
    let connectionParameters: [(keyword: String, value: String)]
    let options: PostgresPool.Options
    let logger: Logger
    let mutex = PThreadMutex()
    private let timerCondition = PThreadCondition()
    /// PQcancel blocks for a round trip; it runs here, never on the caller's thread.
    private let cancelQueue = DispatchQueue(label: "souk.postgres.cancel")

    // Guarded by mutex.
    var queue: [WorkItem] = []
    var idle: [Worker] = []
    var workers: [Worker] = []
    /// Workers spawned that have not yet looked at the queue.
    var starting = 0
    /// Workers leaving for idleness, still in `workers` while they close their connection.
    var retiring = 0
    var closed = false
    var lastConnectError: PostgresError?
    private var timerDeadline: UInt64 = .max
    private var timerExited = false
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    private var nextWorkerID = 0

    init(configuration: PostgresConfiguration, options: PostgresPool.Options, logger: Logger) {
        self.configuration = configuration
        self.connectionParameters = configuration.connectionParameters
        self.options = options
        self.logger = logger
        let timer = Thread { [self] in timerMain() }
        timer.name = "souk-postgres-timer"
        timer.start()
        mutex.withLock {
            for _ in 0 ..< options.minConnections { spawnWorker() }
        }
    }

    // MARK: submitting and cancelling

    /// Hands `item` to an idle worker, or queues it (growing the pool up to its maximum).
    func submit(_ item: WorkItem) {
        mutex.lock()
        if closed {
            mutex.unlock()
            fail(item, PostgresError(kind: .poolClosed, message: "the pool is shut down"))
            return
        }
        let cancelled: Bool
        switch item {
        case .job(let job): cancelled = job.cancelRequested
        case .lease(let request): cancelled = request.cancelRequested
        }
        if cancelled {
            mutex.unlock()
            fail(item, CancellationError())
            return
        }
        if let worker = idle.popLast() {
            worker.isIdle = false
            worker.mailbox = item
            markAssigned(item, to: worker)
            mutex.unlock()
            worker.condition.signal()
            return
        }
        queue.append(item)
        switch item {
        case .job(let job): job.location = .poolQueue
        case .lease(let request): request.location = .poolQueue
        }
        if workers.count < options.maxConnections && starting < queue.count { spawnWorker() }
        let wakeTimer = item.deadline < timerDeadline
        if wakeTimer { timerDeadline = item.deadline }
        mutex.unlock()
        if wakeTimer { timerCondition.signal() }
    }

    /// Called with the mutex held by whoever moves an item to a worker.
    func markAssigned(_ item: WorkItem, to worker: Worker) {
        switch item {
        case .job(let job): job.location = .assigned(worker)
        case .lease(let request): request.location = .assigned
        }
    }

    /// Task cancellation of a statement: dropped if still queued, cancelled on the server
    /// (PQcancel) if running. Clean-up jobs are not cancellable.
    func cancel(_ job: Job) {
        guard job.cancellable else { return }
        mutex.lock()
        job.cancelRequested = true
        switch job.location {
        case .poolQueue:
            queue.removeAll { $0.isSame(as: job) }
            finishCancelled(job)
        case .leaseQueue(let worker):
            worker.leaseJobs.removeAll { $0 === job }
            finishCancelled(job)
        case .running(let worker):
            let handle = worker.cancelHandle
            mutex.unlock()
            if let handle { cancelQueue.async { handle.cancel() } }
        case .new, .assigned, .done:
            // Not submitted yet, or about to start: the submitter or the worker sees the flag.
            mutex.unlock()
        }
    }

    /// Ends a cancelled job; called with the mutex held, returns with it released.
    private func finishCancelled(_ job: Job) {
        job.location = .done
        let continuation = job.continuation
        job.continuation = nil
        mutex.unlock()
        continuation?.resume(throwing: CancellationError())
    }

    func cancel(_ request: LeaseRequest) {
        mutex.lock()
        request.cancelRequested = true
        if case .poolQueue = request.location {
            queue.removeAll { $0.isSame(as: request) }
            request.location = .done
            let continuation = request.continuation
            request.continuation = nil
            mutex.unlock()
            continuation?.resume(throwing: CancellationError())
        } else {
            mutex.unlock()
        }
    }

    /// Resumes an item's waiter with `error` (mutex not held).
    func fail(_ item: WorkItem, _ error: any Error) {
        switch item {
        case .job(let job):
            let continuation = mutex.withLock {
                job.location = .done
                defer { job.continuation = nil }
                return job.continuation
            }
            continuation?.resume(throwing: error)
        case .lease(let request):
            let continuation = mutex.withLock {
                request.location = .done
                defer { request.continuation = nil }
                return request.continuation
            }
            continuation?.resume(throwing: error)
        }
    }

    // MARK: workers

    /// Starts a worker thread; called with the mutex held.
    private func spawnWorker() {
        nextWorkerID += 1
        let worker = Worker(core: self, id: nextWorkerID)
        workers.append(worker)
        starting += 1
        let thread = Thread { worker.main() }
        thread.name = "souk-postgres-\(nextWorkerID)"
        thread.start()
    }

    /// The next queued item for a worker, or nil; called with the mutex held.
    func dequeue(for worker: Worker) -> WorkItem? {
        guard !queue.isEmpty else { return nil }
        let item = queue.removeFirst()
        markAssigned(item, to: worker)
        return item
    }

    /// Statements one worker sends in one pipeline at most.
    static let pipelineLimit = 16

    /// More queued statements to pipeline after `first`: those at the head of the queue that
    /// may be pipelined, up to a fair share of the queue per worker; called with the mutex held.
    func dequeuePipelineable(for worker: Worker) -> [Job] {
        guard !queue.isEmpty else { return [] }
        let share = (queue.count + workers.count - 1) / max(workers.count, 1)
        let limit = min(Self.pipelineLimit - 1, share)
        var taken: [Job] = []
        while taken.count < limit, case .job(let job)? = queue.first, job.pipelineable {
            queue.removeFirst()
            job.location = .assigned(worker)
            taken.append(job)
        }
        return taken
    }

    /// A worker leaves the pool (idle too long, or shutting down); mutex not held.
    func remove(_ worker: Worker) {
        mutex.lock()
        workers.removeAll { $0 === worker }
        idle.removeAll { $0 === worker }
        if worker.retiring { retiring -= 1 }
        let waiters = closed && workers.isEmpty && timerExited ? takeShutdownWaiters() : []
        mutex.unlock()
        waiters.forEach { $0.resume() }
    }

    private func takeShutdownWaiters() -> [CheckedContinuation<Void, Never>] {
        defer { shutdownWaiters = [] }
        return shutdownWaiters
    }

    // MARK: acquire time-outs

    private func timerMain() {
        mutex.lock()
        while true {
            let now = monotonicNanoseconds()
            var expired: [WorkItem] = []
            var next = UInt64.max
            queue.removeAll { item in
                if item.deadline <= now {
                    expired.append(item)
                    return true
                }
                next = min(next, item.deadline)
                return false
            }
            timerDeadline = next
            if !expired.isEmpty {
                let error = acquireTimeoutError()
                mutex.unlock()
                expired.forEach { fail($0, error) }
                mutex.lock()
                continue
            }
            if closed { break }
            if next == .max {
                timerCondition.wait(mutex)
            } else {
                _ = timerCondition.wait(mutex, until: next)
            }
        }
        timerExited = true
        let waiters = workers.isEmpty ? takeShutdownWaiters() : []
        mutex.unlock()
        waiters.forEach { $0.resume() }
    }

    /// Called with the mutex held.
    private func acquireTimeoutError() -> PostgresError {
        var message = "no connection became free within \(options.acquireTimeout) (\(workers.count) of at most \(options.maxConnections) open)"
        if let lastConnectError { message += "; last connection attempt: \(lastConnectError.message)" }
        return PostgresError(kind: .acquireTimeout, message: message)
    }

    // MARK: shutdown

    /// Refuses new work, fails queued work, lets running work and open scopes finish, closes
    /// every connection; returns when every worker thread has ended.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            mutex.lock()
            closed = true
            let queued = queue
            queue = []
            let everyone = workers
            if workers.isEmpty && timerExited {
                mutex.unlock()
                continuation.resume()
            } else {
                shutdownWaiters.append(continuation)
                mutex.unlock()
            }
            let error = PostgresError(kind: .poolClosed, message: "the pool is shut down")
            queued.forEach { fail($0, error) }
            everyone.forEach { $0.condition.signal() }
            timerCondition.signal()
        }
    }
}

/// One connection and the thread that owns it.
///
/// @unchecked Sendable: fields marked "guarded" are guarded by `core.mutex`; `connection` and
/// `lastUsed` are touched only by the worker's own thread.
final class Worker: @unchecked Sendable {
    // Strong: the thread outlives any reference the pool's user holds.
    let core: PoolCore
    let id: Int
    let condition = PThreadCondition()

    // Guarded by core.mutex.
    var mailbox: WorkItem?
    var leaseJobs: [Job] = []
    var lease: Lease?
    var isIdle = false
    /// Leaving for idleness (counted in `PoolCore.retiring`).
    var retiring = false
    var cancelHandle: CancelHandle?

    // The worker thread's own.
    private var connection: LibPQConnection?
    private var lastUsed: UInt64 = 0

    init(core: PoolCore, id: Int) {
        self.core = core
        self.id = id
    }

    func main() {
        // Warm up before taking work: a pool's first statements should not each pay a connect.
        _ = ensureConnection(idleFor: 0)
        let options = core.options
        core.mutex.lock()
        core.starting -= 1
        var idleSince = monotonicNanoseconds()
        while true {
            var item = mailbox
            mailbox = nil
            if item == nil { item = core.dequeue(for: self) }
            if let item {
                if isIdle {
                    isIdle = false
                    core.idle.removeAll { $0 === self }
                }
                // Under load, send the statements queued behind this one in the same round trip.
                var batch: [Job] = []
                if case .job(let job) = item, job.pipelineable {
                    batch = core.dequeuePipelineable(for: self)
                    if !batch.isEmpty { batch.insert(job, at: 0) }
                }
                core.mutex.unlock()
                if batch.isEmpty {
                    serve(item)
                } else {
                    serve(batch)
                }
                core.mutex.lock()
                idleSince = monotonicNanoseconds()
                continue
            }
            if core.closed { break }
            if !isIdle {
                isIdle = true
                core.idle.append(self)
            }
            // Those already retiring do not count: two idle workers that both saw one worker
            // above the minimum would otherwise both leave.
            if core.workers.count - core.retiring > options.minConnections {
                let deadline = idleSince &+ options.idleTimeout.nanoseconds
                if !condition.wait(core.mutex, until: deadline) && mailbox == nil
                    && core.workers.count - core.retiring > options.minConnections && monotonicNanoseconds() >= deadline {
                    core.retiring += 1
                    retiring = true
                    break
                }
            } else {
                condition.wait(core.mutex)
            }
        }
        if isIdle {
            isIdle = false
            core.idle.removeAll { $0 === self }
        }
        // Out of the idle list, so no new work arrives; leave the worker list after closing.
        cancelHandle = nil
        core.mutex.unlock()
        connection = nil
        core.remove(self)
    }

    // MARK: serving work

    private func serve(_ item: WorkItem) {
        let now = monotonicNanoseconds()
        if let error = ensureConnection(idleFor: lastUsed == 0 ? 0 : now &- lastUsed) {
            core.fail(item, error)
            return
        }
        switch item {
        case .job(let job): run(job)
        case .lease(let request): runLease(request)
        }
        lastUsed = monotonicNanoseconds()
        if let connection, connection.discardAfterUse || !connection.isOK { closeConnection() }
    }

    /// Runs several queued statements in one pipeline.
    private func serve(_ jobs: [Job]) {
        let now = monotonicNanoseconds()
        if let error = ensureConnection(idleFor: lastUsed == 0 ? 0 : now &- lastUsed) {
            jobs.forEach { core.fail(.job($0), error) }
            return
        }
        core.mutex.lock()
        var running: [Job] = []
        var cancelled: [CheckedContinuation<PostgresRows, any Error>] = []
        for job in jobs {
            if job.cancelRequested {
                job.location = .done
                if let continuation = job.continuation { cancelled.append(continuation) }
                job.continuation = nil
            } else {
                job.location = .running(self)
                running.append(job)
            }
        }
        core.mutex.unlock()
        cancelled.forEach { $0.resume(throwing: CancellationError()) }
        guard let connection, !running.isEmpty else { return }

        let queries = running.map { job -> SQLQuery in
            guard case .query(let query) = job.payload else { preconditionFailure("only statements are pipelined") }
            return query
        }
        var results = connection.executePipeline(queries, readsShareOneSync: running.allSatisfy(\.isRead)) { index in
            !core.mutex.withLock { running[index].cancelRequested }
        }

        let anyCancelRequested = core.mutex.withLock { running.contains { $0.cancelRequested } }
        if anyCancelRequested || connection.discardAfterUse {
            // The cancel request may have stopped a neighbour in the pipeline instead, or may
            // yet reach a later statement; or the pipeline broke off: go on with a fresh session.
            closeConnection()
        }
        for index in running.indices {
            guard case .failure(let error) = results[index] else { continue }
            let stale = LibPQConnection.isStaleStatement(error)
            let collateral = anyCancelRequested && error.sqlState == SQLState.queryCanceled
                && !core.mutex.withLock({ running[index].cancelRequested })
            // Either way the statement did not run, and ran in no transaction of the caller's.
            if stale || collateral, ensureConnection(idleFor: 0) == nil, let connection = self.connection {
                results[index] = connection.execute(queries[index])
            }
        }

        core.mutex.lock()
        let outcomes = running.map { job -> (CheckedContinuation<PostgresRows, any Error>?, Bool) in
            job.location = .done
            defer { job.continuation = nil }
            return (job.continuation, job.cancelRequested)
        }
        core.mutex.unlock()
        // A cancel that came after the check above may still be on its way to this session:
        // it must not stop the next pipeline.
        if outcomes.contains(where: \.1) { self.connection?.discardAfterUse = true }
        for (index, (continuation, cancelRequested)) in outcomes.enumerated() {
            if cancelRequested, case .failure(let error) = results[index], error.sqlState == SQLState.queryCanceled {
                continuation?.resume(throwing: CancellationError())
            } else {
                continuation?.resume(with: results[index].mapError { $0 as any Error })
            }
        }
        lastUsed = monotonicNanoseconds()
        if let connection = self.connection, connection.discardAfterUse || !connection.isOK { closeConnection() }
    }

    /// Makes sure a healthy connection is open; the error when none can be had.
    private func ensureConnection(idleFor idle: UInt64) -> PostgresError? {
        if let connection {
            let healthy: Bool
            if !connection.isOK {
                healthy = false
            } else if idle >= core.options.pingAfterIdle.nanoseconds {
                healthy = connection.ping()
            } else if idle >= 1_000_000 {
                // Idle for a millisecond or more: the server may have gone away meanwhile.
                healthy = connection.looksAlive()
            } else {
                healthy = true
            }
            if healthy { return nil }
            core.logger.debug("discarding a broken PostgreSQL connection", metadata: ["worker": "\(id)"])
            closeConnection()
        }
        switch LibPQConnection.connect(core.connectionParameters) {
        case .success(let connection):
            self.connection = connection
            lastUsed = monotonicNanoseconds()
            core.mutex.withLock {
                cancelHandle = connection.cancelHandle
                core.lastConnectError = nil
            }
            return nil
        case .failure(let error):
            core.mutex.withLock { core.lastConnectError = error }
            core.logger.warning("cannot connect to PostgreSQL", metadata: ["error": "\(error.message)"])
            return error
        }
    }

    private func closeConnection() {
        core.mutex.withLock { cancelHandle = nil }
        connection = nil
    }

    /// Runs a job taken from the pool queue or a lease queue.
    private func run(_ job: Job) {
        core.mutex.lock()
        if job.cancelRequested {
            job.location = .done
            let continuation = job.continuation
            job.continuation = nil
            core.mutex.unlock()
            continuation?.resume(throwing: CancellationError())
            return
        }
        job.location = .running(self)
        core.mutex.unlock()

        var result: Result<PostgresRows, PostgresError>
        if let connection {
            switch job.payload {
            case .query(let query): result = connection.execute(query)
            case .script(let sql): result = connection.executeScript(sql)
            }
            if case .failure(let error) = result, error.isConnectionFailure { closeConnection() }
        } else {
            result = .failure(PostgresError(kind: .connectionLost, message: "the connection broke earlier in this scope"))
        }

        core.mutex.lock()
        job.location = .done
        let cancelled = job.cancelRequested
        let continuation = job.continuation
        job.continuation = nil
        core.mutex.unlock()
        if cancelled {
            // A cancel request may still reach the server after this statement ended and hit
            // the next one; a fresh connection is cheaper than that doubt.
            connection?.discardAfterUse = true
            if case .failure(let error) = result, error.sqlState == SQLState.queryCanceled {
                continuation?.resume(throwing: CancellationError())
                return
            }
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    /// Lends the connection to one scope and serves its jobs until the scope releases it.
    private func runLease(_ request: LeaseRequest) {
        core.mutex.lock()
        guard !request.cancelRequested, let continuation = request.continuation else {
            request.location = .done
            let continuation = request.continuation
            request.continuation = nil
            core.mutex.unlock()
            continuation?.resume(throwing: CancellationError())
            return
        }
        let lease = Lease(worker: self)
        self.lease = lease
        request.location = .done
        request.continuation = nil
        core.mutex.unlock()
        continuation.resume(returning: lease)

        core.mutex.lock()
        while true {
            if !leaseJobs.isEmpty {
                let job = leaseJobs.removeFirst()
                job.location = .assigned(self)
                core.mutex.unlock()
                run(job)
                core.mutex.lock()
                continue
            }
            if lease.released { break }
            condition.wait(core.mutex)
        }
        self.lease = nil
        core.mutex.unlock()
        // A scope that left a transaction open (BEGIN without COMMIT) must not hand it to
        // the next user: closing the connection rolls it back.
        if let connection, !connection.isIdleOutsideTransaction { connection.discardAfterUse = true }
    }
}
