// postgres-bench: how close SoukPostgres comes to libpq's own C client.
//
// 1. Makes bench_accounts (100,000 rows, pgbench_accounts' shape) through the library, and
//    pgbench's own tables with `pgbench -i -s 1` (also 100,000 accounts).
// 2. Runs primary-key SELECTs from CONCURRENCY tasks on a pool of POOL connections for
//    DURATION seconds; prints queries/s and the p50/p99 latency.
// 3. Runs `pgbench -S -c 8 -j 2 -T DURATION` against the same server, prints its rate and the ratio.
//
// Environment: SOUK_BENCH_DATABASE_URL (default: `Tools/dev-db url test`), DURATION (10),
// CONCURRENCY (64), POOL (8), PG_BIN (/usr/lib/postgresql/15/bin).
import BenchSupport
import Foundation
import SoukPostgres
#if canImport(Glibc)
import Glibc
#endif

let duration = Int(benchEnvironment["DURATION"] ?? "") ?? 10
let concurrency = Int(benchEnvironment["CONCURRENCY"] ?? "") ?? 64
let poolSize = Int(benchEnvironment["POOL"] ?? "") ?? 8
let accounts = 100_000

let url = databaseURL("SOUK_BENCH_DATABASE_URL", devDB: "test")
let configuration = try PostgresConfiguration(url: url)

struct Measurement: Sendable {
    var queries = 0
    var latencies: [UInt64] = []
}

/// CONCURRENCY tasks, each SELECTing a random account by primary key until the time is up.
func measure(_ pool: PostgresPool, seconds: Int) async throws -> (Double, [UInt64]) {
    let started = nowNanoseconds()
    let deadline = started + UInt64(seconds) * 1_000_000_000
    let results = try await withThrowingTaskGroup(of: Measurement.self) { group in
        for _ in 0 ..< concurrency {
            group.addTask {
                var measurement = Measurement()
                measurement.latencies.reserveCapacity(100_000)
                var generator = SystemRandomNumberGenerator()
                while true {
                    let aid = Int32.random(in: 1 ... Int32(accounts), using: &generator)
                    let before = nowNanoseconds()
                    if before >= deadline { break }
                    let rows = try await pool.query("SELECT abalance FROM bench_accounts WHERE aid = \(aid)")
                    let balance = try rows[0].decode(0, as: Int32.self)
                    precondition(balance == 0)
                    measurement.latencies.append(nowNanoseconds() - before)
                    measurement.queries += 1
                }
                return measurement
            }
        }
        var all: [Measurement] = []
        for try await result in group { all.append(result) }
        return all
    }
    let elapsed = Double(nowNanoseconds() - started) / 1e9
    let total = results.reduce(0) { $0 + $1.queries }
    return (Double(total) / elapsed, results.flatMap(\.latencies).sorted())
}

let pool = PostgresPool(configuration: configuration, options: .init(minConnections: poolSize, maxConnections: poolSize,
                                                                       acquireTimeout: .seconds(30)))

// 1. The tables.
let existing = try await pool.query("SELECT count(*) FROM pg_class WHERE relname = 'bench_accounts'")[0].decode(0, as: Int64.self)
let rowsNow = existing == 0 ? 0 : try await pool.query("SELECT count(*) FROM bench_accounts")[0].decode(0, as: Int64.self)
if rowsNow != Int64(accounts) {
    print("creating bench_accounts (\(accounts) rows)")
    try await pool.execute("DROP TABLE IF EXISTS bench_accounts")
    try await pool.execute("CREATE TABLE bench_accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84))")
    try await pool.execute("INSERT INTO bench_accounts SELECT g, 1, 0, '' FROM generate_series(1, \(Int32(accounts))) AS g")
    try await pool.execute("VACUUM ANALYZE bench_accounts")
}
let pgbench = PgbenchTarget(parameter: configuration.urlParameter)
let pgbenchAccounts = try await pool.query("SELECT count(*) FROM pg_class WHERE relname = 'pgbench_accounts'")[0].decode(0, as: Int64.self)
pgbench.initialise(exist: pgbenchAccounts > 0)

// 2. SoukPostgres. A short warm-up first, so both sides meet warm caches and open connections.
_ = try await measure(pool, seconds: 2)
print("SoukPostgres: \(concurrency) tasks, pool of \(poolSize), \(duration) s of SELECT abalance FROM bench_accounts WHERE aid = $1 …")
let cpuBefore = cpuSeconds()
let (rate, latencies) = try await measure(pool, seconds: duration)
let clientCPU = (cpuSeconds() - cpuBefore) / Double(latencies.count) * 1e6
print(String(format: "SoukPostgres: %.0f queries/s, p50 %.0f µs, p99 %.0f µs (%d queries)",
             rate, percentile(latencies, 0.50), percentile(latencies, 0.99), latencies.count))
await pool.shutdown()

// 3. pgbench, the C client as the limit: the command the target is set against (simple
// query protocol, pgbench's default), and the same with prepared statements for reference,
// since SoukPostgres prepares its statements.
let simple = pgbench.selectOnly(seconds: duration)
let prepared = pgbench.selectOnly(seconds: duration, ["-M", "prepared"])
print("")
// Client CPU per query: what the client costs the machine, the number least moved by noise.
print(String(format: "SoukPostgres        %8.0f queries/s  p50 %5.0f µs  p99 %5.0f µs  client CPU %.1f µs/query", rate,
             percentile(latencies, 0.50), percentile(latencies, 0.99), clientCPU))
print(String(format: "pgbench -S          %8.0f tps        ratio %.2f (target ≥ 0.70)         client CPU %.1f µs/query",
             simple.rate, rate / simple.rate, simple.cpu))
print(String(format: "pgbench -S -M prep. %8.0f tps        ratio %.2f (reference)             client CPU %.1f µs/query",
             prepared.rate, rate / prepared.rate, prepared.cpu))
