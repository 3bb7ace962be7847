import NIOCore

/// One timer per connection for the deadlines of all its calls.
///
/// A call's start sets it only when the call's deadline comes before the one already set,
/// and an answered call leaves it alone: calls that share a timeout arrive in deadline
/// order, so starting and answering them costs no timer operation (NIO cancels a scheduled
/// task by searching its heap). When it fires, the connection ends the calls that are due
/// and sets it again for the earliest deadline left. Used on the connection's event loop only.
struct EarliestDeadlineTimer {
    private var scheduled: Scheduled<Void>?
    /// When the timer is set to fire; nil when it is not set.
    private(set) var firesAt: NIODeadline?

    /// Whether the timer must be set (again) for a call due at `deadline`.
    func needsSetting(for deadline: NIODeadline) -> Bool {
        firesAt.map { deadline < $0 } ?? true
    }

    /// Sets the timer to fire at `deadline`, calling `fire` then, instead of when it was set to.
    mutating func set(_ deadline: NIODeadline, on eventLoop: any EventLoop, fire: @escaping @Sendable () -> Void) {
        scheduled?.cancel()
        firesAt = deadline
        scheduled = eventLoop.scheduleTask(deadline: deadline, fire)
    }

    /// Call first thing when the timer has fired: it is no longer set.
    mutating func fired() {
        scheduled = nil
        firesAt = nil
    }

    mutating func cancel() {
        scheduled?.cancel()
        fired()
    }

    /// Of the calls' `deadlines`, the calls due by `now`, earliest deadline first (a late
    /// firing still ends them in deadline order), and the earliest deadline after it (where
    /// the timer goes next).
    static func split<Call>(_ deadlines: some Sequence<(call: Call, deadline: NIODeadline)>,
                            at now: NIODeadline) -> (due: [Call], next: NIODeadline?) {
        var due: [(call: Call, deadline: NIODeadline)] = []
        var next: NIODeadline?
        for (call, deadline) in deadlines {
            if deadline <= now {
                due.append((call, deadline))
            } else if next.map({ deadline < $0 }) ?? true {
                next = deadline
            }
        }
        if due.count > 1 { due.sort { $0.deadline < $1.deadline } }
        return (due.map(\.call), next)
    }
}
