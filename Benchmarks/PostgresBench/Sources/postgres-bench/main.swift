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
import Foundation
import SoukPostgres
#if canImport(Glibc)
import Glibc
#endif

let environment = ProcessInfo.processInfo.environment
let duration = Int(environment["DURATION"] ?? "") ?? 10
let concurrency = Int(environment["CONCURRENCY"] ?? "") ?? 64
let poolSize = Int(environment["POOL"] ?? "") ?? 8
let pgBin = environment["PG_BIN"] ?? "/usr/lib/postgresql/15/bin"
let accounts = 100_000
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// Runs a program, its output to a temporary file; (exit status, output).
func run(_ path: String, _ arguments: [String], environment extra: [String: String] = [:]) -> (Int32, String) {
    let outputPath = NSTemporaryDirectory() + "postgres-bench-\(UUID().uuidString)"
    defer { unlink(outputPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // The child gets a clean signal state: Swift's threads block most signals, and a blocked
    // mask is inherited (pgbench -T, for one, ends on SIGALRM and would never stop).
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let env = ProcessInfo.processInfo.environment.merging(extra) { $1 }.map { "\($0)=\($1)" }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, path, &actions, &attributes, argv, envp) == 0 else { return (-1, "cannot start \(path)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return ((status >> 8) & 0xff, output)
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("postgres-bench: \(message)\n".utf8))
    exit(1)
}

let url: String
if let given = environment["SOUK_BENCH_DATABASE_URL"] {
    url = given
} else {
    let (status, output) = run(repositoryRoot.appendingPathComponent("Tools/dev-db").path, ["url", "test"])
    guard status == 0 else { fail("no database: start the cluster (Tools/dev-db start) or set SOUK_BENCH_DATABASE_URL\n\(output)") }
    url = output.trimmingCharacters(in: .whitespacesAndNewlines)
}
let configuration = try PostgresConfiguration(url: url)

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
}

func nowNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// CPU seconds (user + system) used so far by this process, or by its finished children.
func cpuSeconds(children: Bool = false) -> Double {
    var usage = rusage()
    getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

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
let pgbenchEnvironment = [
    "PGHOST": configuration.urlParameter("host") ?? "127.0.0.1",
    "PGPORT": configuration.urlParameter("port") ?? "5432",
    "PGUSER": configuration.urlParameter("user") ?? "",
    "PGPASSWORD": configuration.urlParameter("password") ?? "",
    "PGDATABASE": configuration.urlParameter("dbname") ?? "",
]
let pgbenchAccounts = try await pool.query("SELECT count(*) FROM pg_class WHERE relname = 'pgbench_accounts'")[0].decode(0, as: Int64.self)
if pgbenchAccounts == 0 {
    print("initialising pgbench's tables (pgbench -i -s 1)")
    let (status, output) = run("\(pgBin)/pgbench", ["-i", "-s", "1", "-q"], environment: pgbenchEnvironment)
    guard status == 0 else { fail("pgbench -i failed:\n\(output)") }
}

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
func pgbench(_ extra: [String]) -> (rate: Double, latency: String, cpu: Double) {
    let arguments = ["-S", "-c", "8", "-j", "2", "-T", String(duration)] + extra
    print("pgbench \(arguments.joined(separator: " ")) …")
    let cpuBefore = cpuSeconds(children: true)
    let (status, output) = run("\(pgBin)/pgbench", arguments, environment: pgbenchEnvironment)
    let cpu = cpuSeconds(children: true) - cpuBefore
    guard status == 0 else { fail("pgbench failed:\n\(output)") }
    guard let tpsLine = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
          let rate = Double(tpsLine.dropFirst("tps = ".count).prefix(while: { $0.isNumber || $0 == "." })) else {
        fail("cannot read pgbench's tps from:\n\(output)")
    }
    let latency = output.split(separator: "\n").first(where: { $0.hasPrefix("latency average") }) ?? ""
    print(String(format: "pgbench: %.0f transactions/s (%@)", rate, String(latency)))
    return (rate, String(latency), cpu / (rate * Double(duration)) * 1e6)
}
let simple = pgbench([])
let prepared = pgbench(["-M", "prepared"])
print("")
// Client CPU per query: what the client costs the machine, the number least moved by noise.
print(String(format: "SoukPostgres        %8.0f queries/s  p50 %5.0f µs  p99 %5.0f µs  client CPU %.1f µs/query", rate,
             percentile(latencies, 0.50), percentile(latencies, 0.99), clientCPU))
print(String(format: "pgbench -S          %8.0f tps        ratio %.2f (target ≥ 0.70)         client CPU %.1f µs/query",
             simple.rate, rate / simple.rate, simple.cpu))
print(String(format: "pgbench -S -M prep. %8.0f tps        ratio %.2f (reference)             client CPU %.1f µs/query",
             prepared.rate, rate / prepared.rate, prepared.cpu))
