// users-bench: the users service end to end — RPC client, `souk users` in its own process,
// PostgreSQL — against pgbench on the same PostgreSQL server.
//
// 1. Makes two key pairs with `souk keys new` and starts `souk users` (this executable runs
//    the real command when its first argument is `souk`) on a free port, against the users
//    database of the local cluster.
// 2. Creates USERS accounts (deleted again at the end) and signs each in with
//    Authenticate, timing it: the cost of the password hash, reported with the parameters
//    the stored hashes record.
// 3. Runs GetCurrentUser from CONCURRENCY tasks over one RPCClient (CONNECTIONS connections)
//    for DURATION seconds, each task with its own user's token: calls/s, p50, p99, and the
//    CPU the server process spent per call.
// 4. Floods Authenticate with FLOOD sign-ins at once on a connection of their own (unknown
//    emails, so each costs a full Argon2id check) and meanwhile times a legitimate sign-in on
//    the other connection, five times: what a flood costs everyone else.
// 5. Runs `pgbench -S -c 8 -j 2 -T DURATION` against the same server (in the test database)
//    and prints the ratio; the target is at least 0.5.
//
// Environment: SOUK_BENCH_USERS_DATABASE_URL (default `Tools/dev-db url users`),
// SOUK_BENCH_DATABASE_URL for pgbench's tables (default `Tools/dev-db url test`), DURATION (10),
// CONCURRENCY (64), CONNECTIONS (1), USERS (64), FLOOD (3000), PG_BIN (/usr/lib/postgresql/15/bin).
import ArgumentParser
import BenchSupport
import Foundation
import SoukCLI
import SoukContracts
import SoukPostgres
import SoukRPC
import SoukRPCCore
#if canImport(Glibc)
import Glibc
#endif

/// `users-bench souk ...`: the `souk` command line, to run `souk users` in a process of its own.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "users-bench", subcommands: [SoukCommand.self])

    /// The async entry point (top-level code would pick ParsableCommand's synchronous `main`).
    static func runAsync() async { await main() }
}

if CommandLine.arguments.dropFirst().first == "souk" {
    await BenchCommand.runAsync()
    exit(0)
}

let duration = Int(benchEnvironment["DURATION"] ?? "") ?? 10
let concurrency = Int(benchEnvironment["CONCURRENCY"] ?? "") ?? 64
let connections = Int(benchEnvironment["CONNECTIONS"] ?? "") ?? 1
let userCount = Int(benchEnvironment["USERS"] ?? "") ?? 64
let floodCount = Int(benchEnvironment["FLOOD"] ?? "") ?? 3000
let usersURL = databaseURL("SOUK_BENCH_USERS_DATABASE_URL", devDB: "users")
let pgbenchURL = databaseURL("SOUK_BENCH_DATABASE_URL", devDB: "test")
let me = URL(fileURLWithPath: CommandLine.arguments[0]).path

// 1. Keys and the server.
let workDirectory = try makeBenchKeys(executable: me, bench: "users-bench")

let port = freePort()
let serverLog = "\(workDirectory)/server.log"
guard let serverPID = spawn(me, ["souk", "users", "--no-admin", "--port", String(port), "--database-url", usersURL,
                                 "--signing-key-file", "\(workDirectory)/users.key",
                                 "--service-keys-file", "\(workDirectory)/services.pub"],
                            outputPath: serverLog) else { fail("cannot start souk users") }
func stopServer() {
    kill(serverPID, SIGTERM)
    var status: Int32 = 0
    while waitpid(serverPID, &status, 0) < 0 && errno == EINTR {}
}

/// CPU seconds the server process has used so far.
func serverCPUSeconds() -> Double { processCPUSeconds(serverPID) }

let client = RPCClient(host: "127.0.0.1", port: port, configuration: .init(connectionsPerEndpoint: connections))
let users = UsersService.Client(transport: client)
var ready = false
for _ in 0 ..< 300 where !ready {
    var status: Int32 = 0
    if waitpid(serverPID, &status, WNOHANG) == serverPID {
        fail("souk users exited at start:\n\((try? String(contentsOfFile: serverLog, encoding: .utf8)) ?? "")")
    }
    do {
        _ = try await users.getCurrentUser(GetCurrentUserRequest())
    } catch let error as RPCError where error.code == .unauthenticated {
        ready = true  // served: the server is up and migrated
    } catch {
        try await Task.sleep(for: .milliseconds(100))
    }
}
guard ready else {
    stopServer()
    fail("souk users did not start:\n\((try? String(contentsOfFile: serverLog, encoding: .utf8)) ?? "")")
}
print("souk users (pid \(serverPID)) serving on 127.0.0.1:\(port)")

// 2. Accounts and Authenticate; 3. GetCurrentUser at CONCURRENCY in flight. Whatever
// happens in them, the server is stopped and the accounts deleted.
let runTag = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)

/// Deletes this run's accounts, so that runs do not pile users up in the dev database.
func deleteBenchUsers() async throws {
    let pool = try PostgresPool(url: usersURL)
    let pattern = "bench-\(runTag)-%@bench.souk.invalid"
    try await pool.execute("DELETE FROM users WHERE email LIKE \(pattern)")
    let floodPattern = "flood-\(runTag)-%@bench.souk.invalid"
    try await pool.execute("DELETE FROM login_failures WHERE email_key LIKE \(floodPattern)")
    await pool.shutdown()
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

struct Measurement: Sendable {
    var calls = 0
    var latencies: [UInt64] = []
}

struct ServiceResults {
    var authenticateLatencies: [UInt64]
    var flood: FloodResults
    var storedParameters: String
    var rate: Double
    var latencies: [UInt64]
    var serverCPU: Double
    var clientCPU: Double
}

func benchService() async throws -> ServiceResults {
    let password = "bench-password-\(getpid())-not-secret"
    var signedIn: [(userID: String, token: String)] = []
    var authenticateLatencies: [UInt64] = []
    for index in 0 ..< userCount {
        var create = CreateUserRequest()
        create.email = "bench-\(runTag)-\(index)@bench.souk.invalid"
        create.password = password
        create.fullName = "Bench User \(index)"
        let user = try await users.createUser(create)
        var authenticate = AuthenticateRequest()
        authenticate.email = create.email
        authenticate.password = password
        let before = nowNanoseconds()
        let answer = try await users.authenticate(authenticate)
        authenticateLatencies.append(nowNanoseconds() - before)
        signedIn.append((user.id, answer.accessToken))
    }
    authenticateLatencies.sort()
    let tokens = signedIn
    let flood = try await signInDuringFlood(email: "bench-\(runTag)-0@bench.souk.invalid", password: password)

    let pool = try PostgresPool(url: usersURL)
    let rows = try await pool.query("SELECT password_hash FROM users WHERE user_id = \(UUID(uuidString: tokens[0].userID)!)")
    let hash = try rows[0].decode(0, as: String.self)
    await pool.shutdown()
    // $argon2id$v=19$m=19456,t=2,p=1$salt$hash: the parameters, not the secret parts.
    let storedParameters = "$" + hash.split(separator: "$").prefix(3).joined(separator: "$")

    @Sendable func measure(seconds: Int) async throws -> (rate: Double, latencies: [UInt64]) {
        let started = nowNanoseconds()
        let deadline = started + UInt64(seconds) * 1_000_000_000
        let results = try await withThrowingTaskGroup(of: Measurement.self) { group in
            for worker in 0 ..< concurrency {
                let (userID, token) = tokens[worker % tokens.count]
                group.addTask {
                    var measurement = Measurement()
                    measurement.latencies.reserveCapacity(200_000)
                    let options = CallOptions(timeout: .seconds(5), metadata: Metadata(["authorization": "Bearer \(token)"]))
                    while true {
                        let before = nowNanoseconds()
                        if before >= deadline { break }
                        let user = try await users.getCurrentUser(GetCurrentUserRequest(), options: options)
                        guard user.id == userID else {
                            throw BenchError(description: "GetCurrentUser answered \(user.id) for \(userID)'s token")
                        }
                        measurement.latencies.append(nowNanoseconds() - before)
                        measurement.calls += 1
                    }
                    return measurement
                }
            }
            var all: [Measurement] = []
            for try await result in group { all.append(result) }
            return all
        }
        let elapsed = Double(nowNanoseconds() - started) / 1e9
        return (Double(results.reduce(0) { $0 + $1.calls }) / elapsed, results.flatMap { $0.latencies }.sorted())
    }

    _ = try await measure(seconds: 2)  // warm-up: connections, prepared statements, caches
    print("GetCurrentUser: \(concurrency) in flight over \(connections) connection(s), \(duration) s …")
    let (serverCPUBefore, clientCPUBefore) = (serverCPUSeconds(), cpuSeconds())
    let (rate, latencies) = try await measure(seconds: duration)
    let serverCPU = (serverCPUSeconds() - serverCPUBefore) / Double(latencies.count) * 1e6
    let clientCPU = (cpuSeconds() - clientCPUBefore) / Double(latencies.count) * 1e6
    print(String(format: "GetCurrentUser: %.0f calls/s, p50 %.0f µs, p99 %.0f µs (%d calls)",
                 rate, percentile(latencies, 0.50), percentile(latencies, 0.99), latencies.count))
    return ServiceResults(authenticateLatencies: authenticateLatencies, flood: flood, storedParameters: storedParameters,
                          rate: rate, latencies: latencies, serverCPU: serverCPU, clientCPU: clientCPU)
}

struct FloodResults {
    var refused = 0, checked = 0
    var floodSeconds = 0.0
    var legitimate: [(milliseconds: Double, outcome: String)] = []
}

/// FLOOD sign-ins at once on a connection of their own; meanwhile a legitimate sign-in on
/// the shared client, five times.
func signInDuringFlood(email: String, password: String) async throws -> FloodResults {
    let floodClient = RPCClient(host: "127.0.0.1", port: port)
    let floodUsers = UsersService.Client(transport: floodClient)
    print("Authenticate: a flood of \(floodCount) sign-ins on one connection, a legitimate one beside it …")
    var results = FloodResults()
    let started = nowNanoseconds()
    try await withThrowingTaskGroup(of: RPCStatusCode?.self) { group in
        for index in 0 ..< floodCount {
            group.addTask {
                var request = AuthenticateRequest()
                request.email = "flood-\(runTag)-\(index)@bench.souk.invalid"
                request.password = "not anyone's password"
                do {
                    _ = try await floodUsers.authenticate(request, options: CallOptions(timeout: .seconds(120)))
                    return .ok
                } catch let error as RPCError {
                    return error.code
                }
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        for _ in 0 ..< 5 {
            var request = AuthenticateRequest()
            request.email = email
            request.password = password
            let before = nowNanoseconds()
            var outcome = "OK"
            do {
                _ = try await users.authenticate(request, options: CallOptions(timeout: .seconds(120)))
            } catch let error as RPCError {
                outcome = error.code.name
            }
            results.legitimate.append((Double(nowNanoseconds() - before) / 1e6, outcome))
            try await Task.sleep(for: .milliseconds(100))
        }
        for try await code in group {
            if code == .resourceExhausted { results.refused += 1 } else { results.checked += 1 }
        }
    }
    results.floodSeconds = Double(nowNanoseconds() - started) / 1e9
    await floodClient.close()
    return results
}

let service: ServiceResults
do {
    service = try await benchService()
    await client.close()
    stopServer()
    try await deleteBenchUsers()
} catch {
    await client.close()
    stopServer()
    try? await deleteBenchUsers()
    fail("\(error)")
}
let (rate, latencies, serverCPU, clientCPU) = (service.rate, service.latencies, service.serverCPU, service.clientCPU)
let (authenticateLatencies, storedParameters) = (service.authenticateLatencies, service.storedParameters)

// 5. pgbench on the same server.
let pgbenchConfiguration = try PostgresConfiguration(url: pgbenchURL)
let pgbench = PgbenchTarget(parameter: pgbenchConfiguration.urlParameter)
do {
    let pool = PostgresPool(configuration: pgbenchConfiguration)
    let count = try await pool.query("SELECT count(*) FROM pg_class WHERE relname = 'pgbench_accounts'")[0].decode(0, as: Int64.self)
    await pool.shutdown()
    pgbench.initialise(exist: count > 0)
}
let reference = pgbench.selectOnly(seconds: duration)

print("")
print(String(format: "GetCurrentUser over RPC  %8.0f calls/s  p50 %5.0f µs  p99 %6.0f µs  server CPU %.0f µs/call  client CPU %.0f µs/call",
             rate, percentile(latencies, 0.50), percentile(latencies, 0.99), serverCPU, clientCPU))
print(String(format: "pgbench -S -c 8 -j 2     %8.0f tps      ratio %.2f (target ≥ 0.50)", reference.rate, rate / reference.rate))
let flood = service.flood
print(String(format: "Flood of %d sign-ins     %d checked, %d refused RESOURCE_EXHAUSTED at once, over %.1f s",
             floodCount, flood.checked, flood.refused, flood.floodSeconds))
print("Legitimate sign-in during the flood: " + flood.legitimate.map { String(format: "%.1f ms %@", $0.milliseconds, $0.outcome) }
    .joined(separator: ", "))
print(String(format: "Authenticate             p50 %.1f ms, max %.1f ms over %d sign-ins; stored hashes: %@",
             percentile(authenticateLatencies, 0.50) / 1000, percentile(authenticateLatencies, 1.0) / 1000,
             authenticateLatencies.count, storedParameters))
