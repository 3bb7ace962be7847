import Foundation
import Logging
import SoukRPCCore
import SoukServiceKit
import Testing
@testable import SoukPostgres

@Suite("the connection pool")
struct PoolTests {
    @Test("200 concurrent tasks on a pool of 8 all succeed, and no connection leaks", .timeLimit(.minutes(2)))
    func concurrentTasks() async throws {
        let name = TestDatabase.uniqueName("souk_pool200")
        try await TestDatabase.withPool { observer in
            let pool = try PostgresPool(url: TestDatabase.url(), applicationName: name,
                                        options: .init(maxConnections: 8, acquireTimeout: .seconds(30)), logger: TestDatabase.logger)
            let peak = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0 ..< 200 {
                    group.addTask {
                        switch i % 4 {
                        case 0:
                            let row = try await pool.query("SELECT \(Int64(i)) + 1 AS n, pg_sleep(0.002)")[0]
                            #expect(try row.decode("n", as: Int64.self) == Int64(i) + 1)
                        case 1:
                            let echoed = try await pool.withConnection { connection in
                                try await connection.query("SELECT \("task \(i)")")[0].decode(0, as: String.self)
                            }
                            #expect(echoed == "task \(i)")
                        case 2:
                            let sum = try await pool.transaction { tx in
                                let a = try await tx.query("SELECT \(Int32(i))")[0].decode(0, as: Int32.self)
                                let b = try await tx.query("SELECT \(Int32(1))")[0].decode(0, as: Int32.self)
                                return a + b
                            }
                            #expect(sum == Int32(i) + 1)
                        default:
                            return try await TestDatabase.connectionCount(applicationName: name, on: observer)
                        }
                        return 0
                    }
                }
                var peak = 0
                for try await count in group { peak = max(peak, count) }
                return peak
            }
            #expect(peak <= 8, "the server saw \(peak) connections of a pool of 8")
            let open = try await TestDatabase.connectionCount(applicationName: name, on: observer)
            #expect(open >= 1 && open <= 8)
            // A scope hands its connection back to the worker's thread, which may take a moment.
            let returned = try await TestDatabase.eventually(timeout: .seconds(5)) {
                pool.core.mutex.withLock { pool.core.workers.allSatisfy { $0.lease == nil && $0.leaseJobs.isEmpty } }
            }
            #expect(returned, "every scope gave its connection back")
            pool.core.mutex.withLock {
                #expect(pool.core.workers.count <= 8)
                #expect(pool.core.queue.isEmpty)
            }
            await pool.shutdown()
            let closed = try await TestDatabase.eventually {
                try await TestDatabase.connectionCount(applicationName: name, on: observer) == 0
            }
            #expect(closed, "connections still open after shutdown")
        }
    }

    @Test("statements queued together share a pipeline, yet fail and succeed one by one", .timeLimit(.minutes(1)))
    func pipelinedStatementsAreIndependent() async throws {
        try await TestDatabase.withPool(options: .init(maxConnections: 1, acquireTimeout: .seconds(30))) { pool in
            try await pool.execute("CREATE TABLE IF NOT EXISTS pipeline_rows (id int PRIMARY KEY)")
            try await pool.execute("TRUNCATE pipeline_rows")
            // One connection and many waiting statements: the worker pipelines what queues up.
            let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for i in 0 ..< 60 {
                    group.addTask {
                        do {
                            switch i % 3 {
                            case 0: _ = try await pool.query("SELECT 1 / \(Int32(i % 2))")  // odd i: fine, even: division by zero
                            case 1: try await pool.execute("INSERT INTO pipeline_rows VALUES (\(Int32(i / 2)))")  // duplicates every other
                            default:
                                let echoed = try await pool.query("SELECT \("row \(i)")")[0].decode(0, as: String.self)
                                #expect(echoed == "row \(i)")
                            }
                            return (i, true)
                        } catch is PostgresError {
                            return (i, false)
                        }
                    }
                }
                return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
            for i in 0 ..< 60 {
                switch i % 3 {
                case 0: #expect(outcomes[i] == (i % 2 == 1), "statement \(i)")
                case 2: #expect(outcomes[i] == true, "statement \(i)")
                default: break
                }
            }
            // Inserts of ids 0…29 from i = 1, 4, 7, …: i / 2 repeats for neighbours, so some fail as duplicates.
            let inserted = Set((0 ..< 60).filter { $0 % 3 == 1 }.map { $0 / 2 })
            let stored = try await pool.query("SELECT count(*) FROM pipeline_rows")[0].decode(0, as: Int64.self)
            #expect(stored == Int64(inserted.count), "each insert committed or failed on its own")
            try await pool.execute("DROP TABLE pipeline_rows")
        }
    }

    @Test("reads queued together go under one sync, yet one failing, or their commit failing, costs the others nothing",
          .timeLimit(.minutes(1)))
    func readsShareOneSync() async throws {
        try await TestDatabase.withPool(options: .init(maxConnections: 1, acquireTimeout: .seconds(30))) { pool in
            try await pool.execute("DROP TABLE IF EXISTS pipeline_bumps, pipeline_parents")
            try await pool.execute("CREATE TABLE pipeline_parents (id int PRIMARY KEY)")
            try await pool.execute("""
                CREATE TABLE pipeline_bumps (id int PRIMARY KEY,
                    parent int REFERENCES pipeline_parents DEFERRABLE INITIALLY DEFERRED)
                """)
            // A SELECT that writes, against the rule of `read`: were it rolled back with a failing
            // neighbour and not run again, its row would be missing; were it run twice, the
            // second would fail. A parent that does not exist fails it only at its commit.
            try await pool.execute("""
                CREATE OR REPLACE FUNCTION pipeline_bump(n int, parent int) RETURNS int LANGUAGE sql
                AS 'INSERT INTO pipeline_bumps VALUES (n, parent) RETURNING n'
                """)
            // While the only connection is held, the statements queue; released, they go out
            // together in one pipeline.
            func queuedTogether<T: Sendable>(_ count: Int, _ statement: @escaping @Sendable (Int) async throws -> T) async throws -> [Task<T, any Error>] {
                try await pool.withConnection { blocker in
                    var tasks: [Task<T, any Error>] = []
                    for i in 0 ..< count {
                        tasks.append(Task { try await statement(i) })
                        try await Task.sleep(for: .milliseconds(10))  // queued in this order
                    }
                    try await Task.sleep(for: .milliseconds(100))
                    _ = try await blocker.query("SELECT 1")
                    return tasks
                }
            }
            func transactionIDs(_ statement: @escaping @Sendable () async throws -> PostgresRows) async throws -> Set<Int64> {
                var seen: Set<Int64> = []
                for task in try await queuedTogether(8, { _ in try await statement()[0].decode(0, as: Int64.self) }) {
                    seen.insert(try await task.value)
                }
                return seen
            }
            // Under one sync they are one transaction: one transaction id for all. Statements
            // sent with `query` keep a sync, and a transaction, each.
            let shared = try await transactionIDs { try await pool.read("SELECT txid_current()") }
            #expect(shared.count == 1, "transaction ids \(shared)")
            let own = try await transactionIDs { try await pool.query("SELECT txid_current()") }
            #expect(own.count == 8, "transaction ids \(own)")

            let mixed = try await queuedTogether(12) { i -> String in
                switch i % 3 {
                // Statement 6 divides by zero: writes before it are rolled back with it, those after skipped.
                case 0: String(try await pool.read("SELECT 10 / \(Int32(i == 6 ? 0 : 1))")[0].decode(0, as: Int32.self))
                case 1: String(try await pool.read("SELECT pipeline_bump(\(Int32(i)), NULL)")[0].decode(0, as: Int32.self))
                default: try await pool.read("SELECT \("row \(i)")")[0].decode(0, as: String.self)
                }
            }
            for (i, task) in mixed.enumerated() {
                let result = await task.result
                switch i % 3 {
                case 0 where i == 6:
                    guard case .failure(let error) = result else { Issue.record("statement \(i) divided by zero: \(result)"); continue }
                    #expect((error as? PostgresError)?.sqlState == "22012", "statement \(i): \(error)")
                case 0: #expect((try? result.get()) == "10", "statement \(i): \(result)")
                case 1: #expect((try? result.get()) == "\(i)", "statement \(i): \(result)")
                default: #expect((try? result.get()) == "row \(i)", "statement \(i): \(result)")
                }
            }
            var bumped = try await pool.query("SELECT id FROM pipeline_bumps ORDER BY id").map { try $0.decode(0, as: Int32.self) }
            #expect(bumped == [1, 4, 7, 10], "every write through a SELECT committed once")

            // Rows without a parent commit under one sync.
            try await pool.execute("TRUNCATE pipeline_bumps")
            let committing = try await queuedTogether(5) { i in
                try await pool.read("SELECT pipeline_bump(\(Int32(i)), \(Int32?.none))")[0].decode(0, as: Int32.self)
            }
            for (i, task) in committing.enumerated() { #expect(try await task.value == Int32(i)) }
            // Statement 2's row names a parent that does not exist: every statement answers, but
            // the commit at the shared sync fails. Each runs again on its own: statement 2 fails
            // at its own commit, the others commit.
            let orphaned = try await queuedTogether(5) { i in
                try await pool.read("SELECT pipeline_bump(\(Int32(10 + i)), \(i == 2 ? Int32(99) : nil))")[0].decode(0, as: Int32.self)
            }
            for (i, task) in orphaned.enumerated() {
                let result = await task.result
                if i == 2 {
                    guard case .failure(let error) = result else { Issue.record("the orphan committed: \(result)"); continue }
                    #expect((error as? PostgresError)?.sqlState == "23503", "\(error)")
                } else {
                    #expect((try? result.get()) == Int32(10 + i), "statement \(i): \(result)")
                }
            }
            bumped = try await pool.query("SELECT id FROM pipeline_bumps ORDER BY id").map { try $0.decode(0, as: Int32.self) }
            #expect(bumped == [0, 1, 2, 3, 4, 10, 11, 13, 14], "only the orphan is missing")
            try await pool.execute("DROP FUNCTION pipeline_bump(int, int)")
            try await pool.execute("DROP TABLE pipeline_bumps, pipeline_parents")
        }
    }

    @Test("cancelling one of many pipelined statements cancels that one alone", .timeLimit(.minutes(1)))
    func cancelInPipeline() async throws {
        try await TestDatabase.withPool(options: .init(maxConnections: 1, acquireTimeout: .seconds(30))) { pool in
            _ = try await pool.query("SELECT 1")
            // While the only connection is held, queue a slow statement between quick ones, so
            // they go out together in one pipeline when it is released.
            let (neighbours, slow) = try await pool.withConnection { blocker in
                let before = (0 ..< 6).map { i in
                    Task { try await pool.query("SELECT \(Int64(i)), pg_sleep(0.05)")[0].decode(0, as: Int64.self) }
                }
                try await Task.sleep(for: .milliseconds(100))
                let slow = Task { try await pool.query("SELECT pg_sleep(30)") }
                try await Task.sleep(for: .milliseconds(100))
                let after = (6 ..< 12).map { i in
                    Task { try await pool.query("SELECT \(Int64(i)), pg_sleep(0.05)")[0].decode(0, as: Int64.self) }
                }
                try await Task.sleep(for: .milliseconds(100))
                _ = try await blocker.query("SELECT 1")
                return (before + after, slow)
            }
            try await Task.sleep(for: .milliseconds(500))
            let started = ContinuousClock.now
            slow.cancel()
            let slowResult = await slow.result
            #expect(throws: CancellationError.self) { try slowResult.get() }
            #expect(ContinuousClock.now - started < .seconds(5))
            for (i, task) in neighbours.enumerated() {
                let value = try await task.value
                #expect(value == Int64(i), "a neighbour of the cancelled statement answered")
            }
        }
    }

    @Test("work waiting longer than the acquire timeout fails as UNAVAILABLE, in time", .timeLimit(.minutes(1)))
    func acquireTimeout() async throws {
        try await TestDatabase.withPool(options: .init(maxConnections: 1, acquireTimeout: .seconds(1))) { pool in
            // Connected first: the time-out below should measure waiting for a busy connection.
            _ = try await pool.query("SELECT 1")
            try await pool.withConnection { held in
                let started = ContinuousClock.now
                let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
                let waited = ContinuousClock.now - started
                #expect(error?.kind == .acquireTimeout)
                #expect(error?.rpcStatusCode == .unavailable)
                #expect(waited >= .milliseconds(950) && waited < .seconds(10), "waited \(waited)")
                let lease = await #expect(throws: PostgresError.self) { try await pool.withConnection { _ in } }
                #expect(lease?.kind == .acquireTimeout)
                _ = try await held.query("SELECT 1")
            }
            // And the connection works again once free.
            #expect(try await pool.query("SELECT 1").count == 1)
        }
    }

    @Test("a connection used after its scope ended throws instead of reaching another user")
    func connectionCannotEscape() async throws {
        try await TestDatabase.withPool { pool in
            let escaped = try await pool.withConnection { $0 }
            let error = await #expect(throws: PostgresError.self) { try await escaped.query("SELECT 1") }
            #expect(error?.kind == .usedOutsideScope)
            let tx = try await pool.transaction { $0 }
            await #expect(throws: PostgresError.self) { try await tx.query("SELECT 1") }
        }
    }

    @Test("a scope that throws still gives its connection back")
    func scopeThrowing() async throws {
        struct Boom: Error {}
        try await TestDatabase.withPool(options: .init(maxConnections: 1, acquireTimeout: .seconds(2))) { pool in
            for _ in 0 ..< 3 {
                await #expect(throws: Boom.self) {
                    try await pool.withConnection { connection in
                        _ = try await connection.query("SELECT 1")
                        throw Boom()
                    }
                }
            }
            let two = try await pool.query("SELECT 2")[0].decode(0, as: Int32.self)
            #expect(two == 2)
        }
    }

    @Test("a transaction left open in withConnection is not handed to the next user")
    func openTransactionDiscarded() async throws {
        try await TestDatabase.withPool(options: .init(maxConnections: 1)) { pool in
            let first = try await pool.withConnection { connection in
                try await connection.execute("BEGIN")
                return try await connection.query("SELECT pg_backend_pid()")[0].decode(0, as: Int32.self)
            }
            let state = try await pool.withConnection { connection in
                try await connection.query("SELECT pg_backend_pid(), now() = statement_timestamp()")[0].decode((Int32, Bool).self)
            }
            #expect(state.0 != first, "the connection with an open transaction was closed, not reused")
        }
    }

    @Test("cancelling a task stops its running statement on the server", .timeLimit(.minutes(1)))
    func cancelRunningStatement() async throws {
        try await TestDatabase.withPool(options: .init(maxConnections: 1)) { pool in
            let started = ContinuousClock.now
            let task = Task { try await pool.query("SELECT pg_sleep(30)") }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let result = await task.result
            #expect(throws: CancellationError.self) { try result.get() }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(try await pool.query("SELECT 1").count == 1, "the pool serves the next statement")
        }
    }

    @Test("cancelling a task waiting for a connection removes it from the queue")
    func cancelQueued() async throws {
        try await TestDatabase.withPool(options: .init(maxConnections: 1, acquireTimeout: .seconds(30))) { pool in
            try await pool.withConnection { _ in
                let task = Task { try await pool.query("SELECT 1") }
                try await Task.sleep(for: .milliseconds(100))
                task.cancel()
                let result = await task.result
                #expect(throws: CancellationError.self) { try result.get() }
                pool.core.mutex.withLock { #expect(pool.core.queue.isEmpty) }
            }
        }
    }

    @Test("the statement timeout option ends long statements, mapped to DEADLINE_EXCEEDED")
    func statementTimeout() async throws {
        try await TestDatabase.withPool(statementTimeout: .milliseconds(200)) { pool in
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT pg_sleep(5)") }
            #expect(error?.sqlState == SQLState.queryCanceled)
            #expect(error?.rpcStatusCode == .deadlineExceeded)
            let setting = try await pool.query("SELECT current_setting('statement_timeout')")[0].decode(0, as: String.self)
            #expect(setting == "200ms")
        }
    }

    @Test("the application name option shows in pg_stat_activity")
    func applicationName() async throws {
        let name = TestDatabase.uniqueName("souk_appname")
        try await TestDatabase.withPool(applicationName: name) { pool in
            let count = try await TestDatabase.connectionCount(applicationName: name, on: pool)
            #expect(count == 1)
        }
    }

    @Test("idle connections above the minimum close after the idle timeout", .timeLimit(.minutes(1)))
    func idleTimeout() async throws {
        let name = TestDatabase.uniqueName("souk_idle")
        try await TestDatabase.withPool { observer in
            try await TestDatabase.withPool(applicationName: name,
                                            options: .init(minConnections: 1, maxConnections: 4, idleTimeout: .milliseconds(500))) { pool in
                let busy = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0 ..< 4 { group.addTask { _ = try await pool.query("SELECT pg_sleep(1)"); return 0 } }
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(500))
                        return try await TestDatabase.connectionCount(applicationName: name, on: observer)
                    }
                    return try await group.reduce(0, max)
                }
                #expect(busy >= 2, "the pool grew under load")
                let shrunk = try await TestDatabase.eventually(timeout: .seconds(10)) {
                    try await TestDatabase.connectionCount(applicationName: name, on: observer) == 1
                }
                let left = try await TestDatabase.connectionCount(applicationName: name, on: observer)
                #expect(shrunk, "the pool kept more than minConnections open: \(left)")
            }
        }
    }

    @Test("a pool connects through a unix socket given as ?host= or as a percent-encoded host")
    func unixSocket() async throws {
        let tcp = try PostgresConfiguration(url: TestDatabase.url())
        let port = tcp.urlParameter("port") ?? "5432"
        let directory = ProcessInfo.processInfo.environment["SOUK_TEST_PG_SOCKET_DIR"]
            ?? TestDatabase.repositoryRoot.appendingPathComponent("var/pg").path
        let encoded = directory.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        // The cluster admits the superuser alone through its socket (see Tools/dev-db).
        for url in ["postgres://postgres@:\(port)/postgres?host=\(directory)", "postgres://postgres@\(encoded):\(port)/postgres"] {
            try await TestDatabase.withPool(url: url) { pool in
                let row = try await pool.query("SELECT current_user::text, inet_server_addr() IS NULL")[0]
                #expect(try row.decode((String, Bool).self) == ("postgres", true), "connected over \(url)")
            }
        }
    }

    @Test("a pool that is shut down refuses work with UNAVAILABLE")
    func shutdownRefuses() async throws {
        let pool = try PostgresPool(url: TestDatabase.url(), logger: TestDatabase.logger)
        _ = try await pool.query("SELECT 1")
        await pool.shutdown()
        await pool.shutdown()
        let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error?.kind == .poolClosed)
        #expect(error?.rpcStatusCode == .unavailable)
    }

    @Test("run() keeps the pool until its task is cancelled, then closes it")
    func runLifecycle() async throws {
        let pool = try PostgresPool(url: TestDatabase.url(), logger: TestDatabase.logger)
        let running = Task { try await pool.run() }
        #expect(try await pool.query("SELECT 1").count == 1)
        running.cancel()
        try await withTimeLimit(.seconds(10), "run() after cancellation") { try await running.value }
        await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
    }
}
