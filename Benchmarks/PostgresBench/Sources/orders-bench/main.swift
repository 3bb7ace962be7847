// orders-bench: the orders service end to end — RPC client, `souk orders` and `souk users` in
// processes of their own, PostgreSQL — against pgbench on the same PostgreSQL server.
//
// 1. Makes two key pairs with `souk keys new` and starts `souk users` and `souk orders` (this
//    executable runs the real command when its first argument is `souk`) on free ports,
//    against the users and orders databases of the local cluster.
// 2. Creates USERS accounts and signs each in.
// 3. CreateOrder from CONCURRENCY tasks for DURATION seconds, each task with its own user's
//    token: every call a users check over RPC and a durable commit (three lines per order).
// 4. GetOrder from CONCURRENCY tasks for DURATION seconds, over the orders just made.
//    Before each, the orders tables are analyzed (see analyzeOrders()): the steady state of a
//    database autovacuum looks after.
// 5. `pgbench -N` right after CreateOrder and `pgbench -S` right after GetOrder (`-c 8 -j 2 -T
//    DURATION`), against the same server (in the test database), the services idle meanwhile;
//    the targets are CreateOrder ≥ 0.4 of -N and GetOrder ≥ 0.5 of -S.
// The run's accounts and orders are deleted at the end.
//
// Environment: SOUK_BENCH_USERS_DATABASE_URL and SOUK_BENCH_ORDERS_DATABASE_URL (default
// `Tools/dev-db url users|orders`), SOUK_BENCH_DATABASE_URL for pgbench's tables (default
// `Tools/dev-db url test`), DURATION (10), CONCURRENCY (64), CONNECTIONS (1), USERS (64),
// PG_BIN (/usr/lib/postgresql/15/bin).
import ArgumentParser
import BenchSupport
import Foundation
import SoukCLI
import SoukContracts
import SoukPostgres
import SoukRPC
import SoukRPCCore
import ServiceBench
#if canImport(Glibc)
import Glibc
#endif

/// `orders-bench souk ...`: the `souk` command line, to run the services in processes of their own.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "orders-bench", subcommands: [SoukCommand.self])
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
let usersURL = databaseURL("SOUK_BENCH_USERS_DATABASE_URL", devDB: "users")
let ordersURL = databaseURL("SOUK_BENCH_ORDERS_DATABASE_URL", devDB: "orders")
let pgbenchURL = databaseURL("SOUK_BENCH_DATABASE_URL", devDB: "test")
let me = URL(fileURLWithPath: CommandLine.arguments[0]).path

// 1. Keys and the servers.
let workDirectory = try makeBenchKeys(executable: me, bench: "orders-bench")

let (usersPort, ordersPort) = (freePort(), freePort())
guard let usersPID = spawn(me, ["souk", "users", "--no-admin", "--port", String(usersPort), "--database-url", usersURL,
                                "--signing-key-file", "\(workDirectory)/users.key",
                                "--service-keys-file", "\(workDirectory)/services.pub"],
                           outputPath: "\(workDirectory)/users.log") else { fail("cannot start souk users") }
guard let ordersPID = spawn(me, ["souk", "orders", "--no-admin", "--port", String(ordersPort), "--database-url", ordersURL,
                                 "--users-address", "127.0.0.1:\(usersPort)",
                                 "--users-public-keys-file", "\(workDirectory)/users.pub",
                                 "--service-signing-key-file", "\(workDirectory)/services.key",
                                 "--service-keys-file", "\(workDirectory)/services.pub"],
                            outputPath: "\(workDirectory)/orders.log") else { fail("cannot start souk orders") }
func stopServers() { stopProcesses([ordersPID, usersPID]) }

let usersClient = RPCClient(host: "127.0.0.1", port: usersPort)
let ordersClient = RPCClient(host: "127.0.0.1", port: ordersPort, configuration: .init(connectionsPerEndpoint: connections))
let users = UsersService.Client(transport: usersClient)
let orders = OrdersService.Client(transport: ordersClient)

/// Waits until both services answer (an unauthenticated call is answered once a server is up and migrated).
func waitForServers() async throws {
    for _ in 0 ..< 300 {
        checkStillRunning([(usersPID, "users", "\(workDirectory)/users.log"), (ordersPID, "orders", "\(workDirectory)/orders.log")])
        do {
            _ = try await users.getCurrentUser(GetCurrentUserRequest())
        } catch let error as RPCError where error.code == .unauthenticated {
            do {
                _ = try await orders.listOrders(ListOrdersRequest())
            } catch let error as RPCError where error.code == .unauthenticated {
                return
            } catch {}
        } catch {}
        try await Task.sleep(for: .milliseconds(100))
    }
    stopServers()
    fail("the services did not start")
}
try await waitForServers()
print("souk users (pid \(usersPID)) on 127.0.0.1:\(usersPort), souk orders (pid \(ordersPID)) on 127.0.0.1:\(ordersPort)")

/// Brings the orders tables' statistics up to date, as autovacuum does once a table has grown,
/// so that the services' cached plans are made again for tables of this size. Without it a
/// table that was empty when a connection planned its statements (a new database, or the last
/// run's orders deleted and vacuumed) keeps being read by sequential scans, the foreign-key
/// checks of each insert included, until autovacuum gets to it (up to a minute later).
func analyzeOrders() async throws {
    let pool = try PostgresPool(url: ordersURL)
    try await pool.execute("ANALYZE orders, order_items, order_status_history")
    await pool.shutdown()
}

/// Deletes this run's accounts and their orders.
func cleanUp(_ accounts: BenchAccounts) async throws {
    try await accounts.deleteUsers(usersURL: usersURL)
    let ordersPool = try PostgresPool(url: ordersURL)
    for id in accounts.ids { try await ordersPool.execute("DELETE FROM orders WHERE user_id = \(id)") }
    await ordersPool.shutdown()
}

/// Runs `call` from `concurrency` tasks for `seconds`; task `worker` uses `tokens[worker % count]`.
func measure(seconds: Int, tokens: [String],
             _ call: @escaping @Sendable (_ worker: Int, _ iteration: Int, _ options: CallOptions) async throws -> String?) async throws
    -> (Phase, [String]) {
    let options = tokens.map { CallOptions(timeout: .seconds(10), metadata: Metadata(["authorization": "Bearer \($0)"])) }
    return try await BenchSupport.measure(concurrency: concurrency, seconds: seconds, serverPIDs: [ordersPID, usersPID]) { worker, iteration in
        try await call(worker, iteration, options[worker % options.count])
    }
}

let accounts = BenchAccounts()
let create: Phase, get: Phase
// Each reference runs right after its workload, so that a drift in the shared machine's speed
// falls on both sides of a ratio alike.
var writes = (rate: 0.0, latency: "", cpu: 0.0), reads = (rate: 0.0, latency: "", cpu: 0.0)
do {
    // 2. Accounts.
    try await accounts.signUp(count: userCount, users: users)
    let signedIn = accounts
    let tokens = signedIn.tokens
    let newOrder = benchOrder
    // 3. CreateOrder.
    _ = try await measure(seconds: 2, tokens: tokens) { _, _, options in try await orders.createOrder(newOrder, options: options).id }
    try await analyzeOrders()
    print("CreateOrder: \(concurrency) in flight over \(connections) connection(s), \(duration) s …")
    let (created, ids) = try await measure(seconds: duration, tokens: tokens) { _, _, options in
        try await orders.createOrder(newOrder, options: options).id
    }
    create = created
    print("CreateOrder made \(ids.count) orders")
    writes = try await pgbenchReference(["-N"], url: pgbenchURL, seconds: duration)
    // 4. GetOrder, each task reading orders of its own user (up to 100 of them).
    let ownOrders = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
        for (index, token) in tokens.enumerated() {
            group.addTask {
                let page = try await orders.listOrders(ListOrdersRequest.with(pageSize: 100),
                                                       options: CallOptions(metadata: Metadata(["authorization": "Bearer \(token)"])))
                return (index, page.orders.map(\.id))
            }
        }
        var result: [[String]] = Array(repeating: [], count: tokens.count)
        for try await (index, ids) in group { result[index] = ids }
        return result
    }
    let readable = ownOrders
    try await analyzeOrders()
    _ = try await measure(seconds: 2, tokens: tokens) { worker, iteration, options in
        let mine = readable[worker % readable.count]
        _ = try await orders.getOrder(GetOrderRequest.with(orderID: mine[iteration % mine.count]), options: options)
        return nil
    }
    print("GetOrder: \(concurrency) in flight over \(connections) connection(s), \(duration) s …")
    (get, _) = try await measure(seconds: duration, tokens: tokens) { worker, iteration, options in
        let mine = readable[worker % readable.count]
        _ = try await orders.getOrder(GetOrderRequest.with(orderID: mine[iteration % mine.count]), options: options)
        return nil
    }
    reads = try await pgbenchReference(["-S"], url: pgbenchURL, seconds: duration)
    await usersClient.close()
    await ordersClient.close()
    stopServers()
    try await cleanUp(accounts)
} catch {
    await usersClient.close()
    await ordersClient.close()
    stopServers()
    try? await cleanUp(accounts)
    fail("\(error)")
}

print("")
print("| workload | calls/s | p50 µs | p99 µs | services' CPU µs/call | reference | ratio | target |")
print("|---|--:|--:|--:|--:|---|--:|--:|")
print(String(format: "| CreateOrder over RPC, %d in flight | %.0f | %.0f | %.0f | %.0f | pgbench -N -c 8 -j 2: %.0f tps | %.2f | ≥ 0.40 |",
             concurrency, create.rate, percentile(create.latencies, 0.50), percentile(create.latencies, 0.99), create.serverCPU,
             writes.rate, create.rate / writes.rate))
print(String(format: "| GetOrder over RPC, %d in flight | %.0f | %.0f | %.0f | %.0f | pgbench -S -c 8 -j 2: %.0f tps | %.2f | ≥ 0.50 |",
             concurrency, get.rate, percentile(get.latencies, 0.50), percentile(get.latencies, 0.99), get.serverCPU,
             reads.rate, get.rate / reads.rate))

extension ListOrdersRequest {
    static func with(pageSize: Int32) -> ListOrdersRequest {
        var request = ListOrdersRequest()
        request.pageSize = pageSize
        return request
    }
}

extension GetOrderRequest {
    static func with(orderID: String) -> GetOrderRequest {
        var request = GetOrderRequest()
        request.orderId = orderID
        return request
    }
}
