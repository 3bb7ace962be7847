import Foundation
import Testing
@testable import SoukPostgres

/// Each test works on its own table: `tx_<random>`, created and dropped through the
/// library's trusted path (test names are not literals).
private func withTable<R>(_ pool: PostgresPool, _ body: (String) async throws -> R) async throws -> R {
    let table = TestDatabase.uniqueName("tx")
    _ = try await pool.query(SQLQuery(trustedSQL: "CREATE TABLE \(table) (id int PRIMARY KEY, value int NOT NULL)"))
    do {
        let result = try await body(table)
        _ = try await pool.query(SQLQuery(trustedSQL: "DROP TABLE \(table)"))
        return result
    } catch {
        _ = try? await pool.query(SQLQuery(trustedSQL: "DROP TABLE \(table)"))
        throw error
    }
}

private func insert(_ table: String, id: Int32, value: Int32, on executor: some PostgresQueryExecutor) async throws {
    var bindings = PostgresBindings()
    bindings.append(id)
    bindings.append(value)
    _ = try await executor.query(SQLQuery(trustedSQL: "INSERT INTO \(table) (id, value) VALUES ($1, $2)", bindings: bindings))
}

private func values(_ table: String, on executor: some PostgresQueryExecutor) async throws -> [Int32: Int32] {
    let rows = try await executor.query(SQLQuery(trustedSQL: "SELECT id, value FROM \(table)"))
    return Dictionary(uniqueKeysWithValues: try rows.map { try $0.decode((Int32, Int32).self) })
}

@Suite("transactions")
struct TransactionTests {
    struct Boom: Error {}

    @Test("a transaction commits when its body returns")
    func commit() async throws {
        try await TestDatabase.withPool { pool in
            try await withTable(pool) { table in
                let answer = try await pool.transaction { tx in
                    try await insert(table, id: 1, value: 10, on: tx)
                    try await insert(table, id: 2, value: 20, on: tx)
                    return 42
                }
                #expect(answer == 42)
                #expect(try await values(table, on: pool) == [1: 10, 2: 20])
            }
        }
    }

    @Test("a transaction rolls back when its body throws")
    func rollbackOnThrow() async throws {
        try await TestDatabase.withPool { pool in
            try await withTable(pool) { table in
                await #expect(throws: Boom.self) {
                    try await pool.transaction { tx in
                        try await insert(table, id: 1, value: 10, on: tx)
                        throw Boom()
                    }
                }
                let left = try await values(table, on: pool)
                #expect(left.isEmpty)
            }
        }
    }

    @Test("a transaction rolls back when its task is cancelled during a statement", .timeLimit(.minutes(1)))
    func rollbackOnCancelDuringStatement() async throws {
        try await TestDatabase.withPool { pool in
            try await withTable(pool) { table in
                let task = Task {
                    try await pool.transaction { tx in
                        try await insert(table, id: 1, value: 10, on: tx)
                        _ = try await tx.query("SELECT pg_sleep(30)")
                    }
                }
                try await Task.sleep(for: .milliseconds(400))
                task.cancel()
                let result = await task.result
                #expect(throws: CancellationError.self) { try result.get() }
                let left = try await values(table, on: pool)
                #expect(left.isEmpty)
            }
        }
    }

    @Test("a transaction rolls back when its task is cancelled between statements", .timeLimit(.minutes(1)))
    func rollbackOnCancelBetweenStatements() async throws {
        try await TestDatabase.withPool { pool in
            try await withTable(pool) { table in
                let inserted = AsyncStream<Void>.makeStream()
                let task = Task {
                    try await pool.transaction { tx in
                        try await insert(table, id: 1, value: 10, on: tx)
                        inserted.continuation.yield()
                        try await Task.sleep(for: .seconds(30))
                    }
                }
                for await _ in inserted.stream { break }
                task.cancel()
                let result = await task.result
                #expect(throws: CancellationError.self) { try result.get() }
                let left = try await values(table, on: pool)
                #expect(left.isEmpty)
            }
        }
    }

    @Test("a body that returns after its task was cancelled does not commit")
    func noCommitAfterCancel() async throws {
        try await TestDatabase.withPool { pool in
            try await withTable(pool) { table in
                let task = Task {
                    try await pool.transaction { tx in
                        try await insert(table, id: 1, value: 10, on: tx)
                        withUnsafeCurrentTask { $0?.cancel() }
                    }
                }
                let result = await task.result
                #expect(throws: CancellationError.self) { try result.get() }
                let left = try await values(table, on: pool)
                #expect(left.isEmpty)
            }
        }
    }

    @Test("a serialization failure between two serializable transactions is retried and both succeed", .timeLimit(.minutes(1)))
    func serializationFailureRetried() async throws {
        try await TestDatabase.withPool { pool in
            try await withTable(pool) { table in
                try await insert(table, id: 1, value: 0, on: pool)
                let barrier = Barrier(parties: 2)
                let attempts = AttemptCounter()
                let increment: @Sendable () async throws -> Void = {
                    try await pool.transaction(isolation: .serializable) { tx in
                        let attempt = await attempts.next()
                        let current = try await values(table, on: tx)[1]!
                        // On the first tries both read before either writes: one of them must fail.
                        if attempt <= 2 { await barrier.arrive() }
                        var bindings = PostgresBindings()
                        bindings.append(current + 1)
                        _ = try await tx.query(SQLQuery(trustedSQL: "UPDATE \(table) SET value = $1 WHERE id = 1", bindings: bindings))
                    }
                }
                async let first: Void = increment()
                async let second: Void = increment()
                _ = try await (first, second)
                #expect(try await values(table, on: pool) == [1: 2], "both increments landed, serially")
                #expect(await attempts.count == 3, "exactly one transaction ran twice")
            }
        }
    }

    @Test("a serialization failure that outlives its retries reaches the caller as ABORTED")
    func retriesAreBounded() async throws {
        try await TestDatabase.withPool { pool in
            let attempts = AttemptCounter()
            let error = await #expect(throws: PostgresError.self) {
                try await pool.transaction(isolation: .serializable, maxAttempts: 3) { tx in
                    _ = await attempts.next()
                    // Raise a serialization failure the way the server would.
                    _ = try await tx.query("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$")
                }
            }
            #expect(error?.sqlState == SQLState.serializationFailure)
            #expect(error?.rpcStatusCode == .aborted)
            #expect(await attempts.count == 3)
        }
    }

    @Test("isolation level and read-only mode reach the server")
    func isolationLevels() async throws {
        try await TestDatabase.withPool { pool in
            for (level, name) in [(PostgresIsolationLevel.readCommitted, "read committed"), (.repeatableRead, "repeatable read"),
                                  (.serializable, "serializable")] {
                let seen = try await pool.transaction(isolation: level) { tx in
                    try await tx.query("SELECT current_setting('transaction_isolation')")[0].decode(0, as: String.self)
                }
                #expect(seen == name)
            }
            let error = await #expect(throws: PostgresError.self) {
                try await pool.transaction(readOnly: true) { tx in
                    _ = try await tx.query("CREATE TEMP TABLE nope (id int)")
                }
            }
            #expect(error?.sqlState == "25006")
        }
    }

    @Test("an error swallowed inside a transaction makes it roll back, and the caller hears of it")
    func swallowedError() async throws {
        try await TestDatabase.withPool { pool in
            try await withTable(pool) { table in
                let error = await #expect(throws: PostgresError.self) {
                    try await pool.transaction { tx in
                        try await insert(table, id: 1, value: 10, on: tx)
                        _ = try? await tx.query("SELECT 1 / 0")
                    }
                }
                #expect(error?.kind == .transactionRolledBack)
                let left = try await values(table, on: pool)
                #expect(left.isEmpty)
            }
        }
    }
}

actor AttemptCounter {
    private(set) var count = 0
    func next() -> Int {
        count += 1
        return count
    }
}
