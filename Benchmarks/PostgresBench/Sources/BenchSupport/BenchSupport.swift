// What the benchmarks of this package share: running programs, clocks, percentiles,
// the local cluster's URLs and pgbench.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The Souk checkout this package sits in.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

public let benchEnvironment = ProcessInfo.processInfo.environment

/// The PostgreSQL programs (pgbench).
public let pgBin = benchEnvironment["PG_BIN"] ?? "/usr/lib/postgresql/15/bin"

public func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("\(CommandLine.arguments[0].split(separator: "/").last ?? ""): \(message)\n".utf8))
    exit(1)
}

/// Spawns a program with a clean signal state, its output (stdout and stderr) to `outputPath`.
///
/// Swift's threads block most signals, and a blocked mask is inherited: pgbench -T, for
/// one, ends on SIGALRM and would never stop.
public func spawn(_ path: String, _ arguments: [String], environment extra: [String: String] = [:],
                  outputPath: String) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
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
    guard posix_spawn(&pid, path, &actions, &attributes, argv, envp) == 0 else { return nil }
    return pid
}

/// Runs a program to its end; (exit status, output).
public func run(_ path: String, _ arguments: [String], environment extra: [String: String] = [:]) -> (Int32, String) {
    let outputPath = NSTemporaryDirectory() + "souk-bench-\(UUID().uuidString)"
    defer { unlink(outputPath) }
    guard let pid = spawn(path, arguments, environment: extra, outputPath: outputPath) else {
        return (-1, "cannot start \(path)")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return ((status >> 8) & 0xff, output)
}

/// The URL of a database of the local cluster (`Tools/dev-db url SERVICE`), unless `variable` names one.
public func databaseURL(_ variable: String, devDB service: String) -> String {
    if let given = benchEnvironment[variable] { return given }
    let (status, output) = run(repositoryRoot.appendingPathComponent("Tools/dev-db").path, ["url", service])
    guard status == 0 else { fail("no database: start the cluster (Tools/dev-db start) or set \(variable)\n\(output)") }
    return output.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The value at fraction `p` of sorted nanosecond latencies, in µs.
public func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
}

public func nowNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// CPU seconds (user + system) used so far by this process, or by its finished children.
public func cpuSeconds(children: Bool = false) -> Double {
    var usage = rusage()
    getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// pgbench's connection settings for a database URL's parameters.
public struct PgbenchTarget: Sendable {
    public var environment: [String: String]

    /// From the keywords of a libpq URL: host, port, user, password, dbname.
    public init(parameter: (String) -> String?) {
        environment = [
            "PGHOST": parameter("host") ?? "127.0.0.1",
            "PGPORT": parameter("port") ?? "5432",
            "PGUSER": parameter("user") ?? "",
            "PGPASSWORD": parameter("password") ?? "",
            "PGDATABASE": parameter("dbname") ?? "",
        ]
    }

    /// Creates pgbench's tables (`pgbench -i -s 1`: 100,000 accounts) unless `exist`.
    public func initialise(exist: Bool) {
        guard !exist else { return }
        print("initialising pgbench's tables (pgbench -i -s 1)")
        let (status, output) = run("\(pgBin)/pgbench", ["-i", "-s", "1", "-q"], environment: environment)
        guard status == 0 else { fail("pgbench -i failed:\n\(output)") }
    }

    /// Runs `pgbench -S -c 8 -j 2 -T seconds` plus `extra`: (transactions/s, its latency line, client CPU µs per transaction).
    public func selectOnly(seconds: Int, _ extra: [String] = []) -> (rate: Double, latency: String, cpu: Double) {
        workload(["-S"], seconds: seconds, extra)
    }

    /// Runs `pgbench <mode> -c 8 -j 2 -T seconds` plus `extra`: `-S` (select only) or `-N`
    /// (TPC-B without the branch and teller updates: durable commits of an UPDATE, a SELECT and an INSERT).
    public func workload(_ mode: [String], seconds: Int, _ extra: [String] = []) -> (rate: Double, latency: String, cpu: Double) {
        let arguments = mode + ["-c", "8", "-j", "2", "-T", String(seconds)] + extra
        print("pgbench \(arguments.joined(separator: " ")) …")
        let cpuBefore = cpuSeconds(children: true)
        let (status, output) = run("\(pgBin)/pgbench", arguments, environment: environment)
        let cpu = cpuSeconds(children: true) - cpuBefore
        guard status == 0 else { fail("pgbench failed:\n\(output)") }
        guard let tpsLine = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let rate = Double(tpsLine.dropFirst("tps = ".count).prefix(while: { $0.isNumber || $0 == "." })) else {
            fail("cannot read pgbench's tps from:\n\(output)")
        }
        let latency = output.split(separator: "\n").first(where: { $0.hasPrefix("latency average") }) ?? ""
        print(String(format: "pgbench: %.0f transactions/s (%@)", rate, String(latency)))
        return (rate, String(latency), cpu / (rate * Double(seconds)) * 1e6)
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
public func freePort() -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(socket, pointer, length)
            return getsockname(socket, pointer, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// CPU seconds process `pid` has used so far (utime + stime of /proc/PID/stat).
public func processCPUSeconds(_ pid: pid_t) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let afterName = stat.range(of: ") ") else { return 0 }
    let fields = stat[afterName.upperBound...].split(separator: " ")
    let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)  // fields 14 and 15 of the whole line
    return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// A private folder (mode 700, removed at exit, fail() included) holding two key pairs made
/// by `souk keys new`, run through `executable` (a bench that runs `souk` when its first
/// argument is `souk`): users.key/.pub for access tokens, services.key/.pub for service
/// credentials. Returns the folder.
public func makeBenchKeys(executable: String, bench: String) throws -> String {
    let directory = NSTemporaryDirectory() + "\(bench)-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                            attributes: [.posixPermissions: 0o700])
    benchKeyDirectory = directory
    atexit { if let directory = benchKeyDirectory { try? FileManager.default.removeItem(atPath: directory) } }
    for (id, name) in [("bench-users", "users"), ("bench-services", "services")] {
        let (status, output) = run(executable, ["souk", "keys", "new", id, "--signing-key-out", "\(directory)/\(name).key",
                                                "--public-key-out", "\(directory)/\(name).pub"])
        guard status == 0 else { fail("souk keys new failed:\n\(output)") }
    }
    return directory
}

/// The folder of ``makeBenchKeys(executable:bench:)``, for the exit handler (a C function pointer captures nothing).
nonisolated(unsafe) private var benchKeyDirectory: String?

/// What one measured phase gave: calls per second, each call's latency (ns, sorted), and
/// the CPU the servers used per call (µs).
public struct Phase: Sendable {
    public var rate: Double
    public var latencies: [UInt64]
    public var serverCPU: Double
}

/// Runs `call` from `concurrency` tasks for `seconds` (task `worker`, its `iteration`-th call),
/// timing each call and the CPU of the processes `serverPIDs`; the phase, and what the calls
/// returned (nil results left out).
public func measure<Output: Sendable>(
    concurrency: Int, seconds: Int, serverPIDs: [pid_t],
    _ call: @escaping @Sendable (_ worker: Int, _ iteration: Int) async throws -> Output?
) async throws -> (Phase, [Output]) {
    let cpuBefore = serverPIDs.map(processCPUSeconds).reduce(0, +)
    let started = nowNanoseconds()
    let deadline = started + UInt64(seconds) * 1_000_000_000
    let results = try await withThrowingTaskGroup(of: ([UInt64], [Output]).self) { group in
        for worker in 0 ..< concurrency {
            group.addTask {
                var latencies: [UInt64] = []
                latencies.reserveCapacity(100_000)
                var outputs: [Output] = []
                var iteration = 0
                while true {
                    let before = nowNanoseconds()
                    if before >= deadline { break }
                    if let output = try await call(worker, iteration) { outputs.append(output) }
                    latencies.append(nowNanoseconds() - before)
                    iteration += 1
                }
                return (latencies, outputs)
            }
        }
        var all: [([UInt64], [Output])] = []
        for try await result in group { all.append(result) }
        return all
    }
    let elapsed = Double(nowNanoseconds() - started) / 1e9
    let latencies = results.flatMap(\.0).sorted()
    let cpu = (serverPIDs.map(processCPUSeconds).reduce(0, +) - cpuBefore) / Double(max(latencies.count, 1)) * 1e6
    return (Phase(rate: Double(latencies.count) / elapsed, latencies: latencies, serverCPU: cpu), results.flatMap(\.1))
}

/// Sends SIGTERM to each of `pids` and waits for it to exit.
public func stopProcesses(_ pids: [pid_t]) {
    for pid in pids {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// Fails (after stopping all of `pids`) when one of them has exited; its log is shown.
public func checkStillRunning(_ pids: [(pid: pid_t, name: String, log: String)]) {
    for entry in pids {
        var status: Int32 = 0
        if waitpid(entry.pid, &status, WNOHANG) == entry.pid {
            stopProcesses(pids.map(\.pid).filter { $0 != entry.pid })
            fail("souk \(entry.name) exited at start:\n\((try? String(contentsOfFile: entry.log, encoding: .utf8)) ?? "")")
        }
    }
}
