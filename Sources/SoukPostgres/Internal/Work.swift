/// What a job asks a connection to run.
enum JobPayload: Sendable {
    /// A parameterised statement from the public API.
    case query(SQLQuery)
    /// Trusted SQL text for the simple protocol: BEGIN/COMMIT/ROLLBACK and migration files.
    case script(String)
}

/// One statement waiting for, or running on, a connection.
///
/// @unchecked Sendable: the mutable fields are guarded by the owning `PoolCore.mutex`;
/// the rest is immutable.
final class Job: @unchecked Sendable {
    enum Location {
        /// Not handed to the pool or a lease yet.
        case new
        /// In the pool's queue.
        case poolQueue
        /// Queued on a leased connection.
        case leaseQueue(Worker)
        /// Taken by a worker that has not started it.
        case assigned(Worker)
        /// Running on a worker's connection.
        case running(Worker)
        case done
    }

    let payload: JobPayload
    /// False for the library's own clean-up (ROLLBACK), which must run in a cancelled task.
    let cancellable: Bool
    /// When waiting in the pool's queue must end (monotonic nanoseconds).
    let deadline: UInt64
    /// A parameterised statement with small parameters: it may share a pipeline with others.
    let pipelineable: Bool
    /// A plain SELECT its caller declared free of effects (`PostgresPool.read`): it may share
    /// a pipeline's sync with other such reads.
    let isRead: Bool

    /// Parameters up to this size may be pipelined (see `LibPQConnection.executePipeline`).
    static let pipelineParameterLimit = 2048

    // Guarded by PoolCore.mutex.
    var continuation: CheckedContinuation<PostgresRows, any Error>?
    var location: Location = .new
    var cancelRequested = false

    init(payload: JobPayload, cancellable: Bool, deadline: UInt64, isRead: Bool = false) {
        self.payload = payload
        self.cancellable = cancellable
        self.deadline = deadline
        self.isRead = isRead
        if case .query(let query) = payload {
            pipelineable = query.bindings.bytes.count <= Job.pipelineParameterLimit
        } else {
            pipelineable = false
        }
    }
}

/// A request for a connection of one's own (`withConnection`, transactions, migrations).
///
/// @unchecked Sendable: mutable fields guarded by `PoolCore.mutex`.
final class LeaseRequest: @unchecked Sendable {
    enum Location { case new, poolQueue, assigned, done }

    let deadline: UInt64
    // Guarded by PoolCore.mutex.
    var continuation: CheckedContinuation<Lease, any Error>?
    var location: Location = .new
    var cancelRequested = false

    init(deadline: UInt64) { self.deadline = deadline }
}

/// What the pool queue holds.
enum WorkItem {
    case job(Job)
    case lease(LeaseRequest)

    var deadline: UInt64 {
        switch self {
        case .job(let job): job.deadline
        case .lease(let request): request.deadline
        }
    }

    func isSame(as other: AnyObject) -> Bool {
        switch self {
        case .job(let job): job === other
        case .lease(let request): request === other
        }
    }
}

/// A worker's connection, lent to one scope. Ends with `release()`, after which every use fails.
///
/// @unchecked Sendable: `released` is guarded by `PoolCore.mutex`.
final class Lease: @unchecked Sendable {
    let worker: Worker
    var released = false

    init(worker: Worker) { self.worker = worker }
}
