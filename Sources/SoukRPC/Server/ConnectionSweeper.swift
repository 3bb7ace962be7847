import CSoukMalloc
import NIOCore
import Synchronization

/// The one timer of an event loop's connections: a few times a second it asks
/// each of them to check its clocks (preface, idle, drain grace).
///
/// A scheduled task per connection would make accepting and closing O(n): NIO
/// finds a cancelled task by a linear search of its timer heap, so 10,000
/// connections closing cost 10,000 searches of 10,000 entries. Here a connection
/// is added to and removed from a dictionary, and the sweep visits each once per
/// interval. The sweeper runs only while its loop has connections.
final class ConnectionSweeper: @unchecked Sendable {
    // @unchecked: every member is touched on `eventLoop` only.
    private let eventLoop: any EventLoop
    private let interval: TimeAmount
    private var connections: [ObjectIdentifier: ServerConnectionHandler] = [:]
    private var task: RepeatedTask?

    private let budgets: ServerBudgets?

    init(eventLoop: any EventLoop, interval: TimeAmount, budgets: ServerBudgets? = nil) {
        self.eventLoop = eventLoop
        self.interval = interval
        self.budgets = budgets
    }

    func add(_ connection: ServerConnectionHandler) {
        eventLoop.assertInEventLoop()
        connections[ObjectIdentifier(connection)] = connection
        if task == nil {
            task = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in sweep() }
        }
    }

    func remove(_ connection: ServerConnectionHandler) {
        eventLoop.assertInEventLoop()
        guard connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        if connections.isEmpty {
            task?.cancel()
            task = nil
            // No sweep will run until a connection comes: give back what the last ones freed now.
            budgets?.trimIfWanted(now: .now(), minimumInterval: .zero)
        }
    }

    var count: Int { connections.count }

    private func sweep() {
        let now = NIODeadline.now()
        budgets?.trimIfWanted(now: now)
        // A connection that closes here removes itself: iterate over a snapshot.
        for connection in connections.values {
            connection.sweep(now: now)
        }
    }

    /// How often the clocks are read: fine enough for the shortest of them, at most once a second.
    static func interval(for configuration: RPCServer.Configuration) -> TimeAmount {
        var shortest = min(configuration.prefaceTimeout, configuration.shutdownGracePeriod)
        if let idle = configuration.idleTimeout { shortest = min(shortest, idle) }
        let quarter = TimeAmount(shortest / 4)
        return min(.seconds(1), max(.milliseconds(5), quarter))
    }
}

/// Bytes held for all connections of a server, against its budgets.
final class ServerBudgets: Sendable {
    private let incomplete = Atomic<Int>(0)
    private let unsent = Atomic<Int>(0)
    private let largeBlocksFreed = Atomic<Bool>(false)
    private let lastTrim = Mutex(NIODeadline.distantPast)

    /// Notes that a large buffer (a frame, an answer) was let go of.
    func largeBlockFreed() {
        largeBlocksFreed.store(true, ordering: .relaxed)
    }

    /// Gives freed memory back to the system, at most once a second and only after
    /// large buffers were let go of: glibc keeps the pages of freed blocks in its
    /// arenas, so a burst of large frames would otherwise leave the process's
    /// resident size at its peak.
    func trimIfWanted(now: NIODeadline, minimumInterval: TimeAmount = .seconds(1)) {
        guard largeBlocksFreed.load(ordering: .relaxed) else { return }
        let due = lastTrim.withLock { last -> Bool in
            guard now - last >= minimumInterval else { return false }
            last = now
            return true
        }
        guard due, largeBlocksFreed.exchange(false, ordering: .relaxed) else { return }
        _ = souk_malloc_trim()
    }

    /// Bytes of incomplete frames held (beyond each connection's free allowance).
    var incompleteBytes: Int { incomplete.load(ordering: .relaxed) }
    /// Bytes of answers written but not yet taken by the peers' sockets.
    var unsentBytes: Int { unsent.load(ordering: .relaxed) }

    /// Takes `bytes` from the incomplete-frame budget; false (and nothing taken) past `limit`.
    func reserveIncomplete(_ bytes: Int, limit: Int) -> Bool {
        let after = incomplete.wrappingAdd(bytes, ordering: .relaxed).newValue
        if after > limit {
            incomplete.wrappingSubtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseIncomplete(_ bytes: Int) {
        incomplete.wrappingSubtract(bytes, ordering: .relaxed)
    }

    func addUnsent(_ delta: Int) {
        unsent.wrappingAdd(delta, ordering: .relaxed)
    }
}
