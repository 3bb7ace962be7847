import NIOCore

/// Runs Swift tasks on a NIO event loop's thread.
///
/// A task that prefers this executor (`Task(executorPreference:)`) starts and
/// resumes on the loop, so a call served there needs no thread hop between the
/// socket and the handler: the request is decoded, handled and answered in the
/// same thread, often in the same loop tick. The price: while such a task runs,
/// the loop serves no other connection, so only handlers that await I/O and do
/// little CPU work belong here (see ``RPCServer/Configuration/HandlerExecution``).
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
