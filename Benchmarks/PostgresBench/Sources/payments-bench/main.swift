// payments-bench: the whole flow of a purchase over RPC — `souk users`, `souk orders` and
// `souk payments` in processes of their own, PostgreSQL — against pgbench on the same server.
//
// 1. Makes two key pairs with `souk keys new` and starts the three services (this executable
//    runs the real command when its first argument is `souk`) on free ports, against the
//    users, orders and payments databases of the local cluster.
// 2. Creates USERS accounts and signs each in.
// 3. The flow, from CONCURRENCY (32) tasks for DURATION seconds: CreateOrder, then
//    CreatePayment of it with a fresh idempotency key. Each flow is: a users check, an order
//    committed, a key claimed, the order checked with orders, the card charged (the simulated
//    network), payment + outbox row committed, MarkOrderPaid delivered and the outbox row settled.
// 4. Replays: CreatePayment again with keys of step 3 and the same requests, from
//    REPLAY_CONCURRENCY (64) tasks: each answered from the stored answer.
// 5. `pgbench -N -c 8 -j 2 -T DURATION` against the same server (in the test database).
// The run's accounts, orders and payments are deleted at the end.
//
// Environment: SOUK_BENCH_{USERS,ORDERS,PAYMENTS}_DATABASE_URL (default `Tools/dev-db url
// users|orders|payments`), SOUK_BENCH_DATABASE_URL for pgbench's tables (default
// `Tools/dev-db url test`), DURATION (10), CONCURRENCY (32), REPLAY_CONCURRENCY (64),
// USERS (64), PG_BIN (/usr/lib/postgresql/15/bin).
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

/// `payments-bench souk ...`: the `souk` command line, to run the services in processes of their own.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "payments-bench", subcommands: [SoukCommand.self])
    static func runAsync() async { await main() }
}

if CommandLine.arguments.dropFirst().first == "souk" {
    await BenchCommand.runAsync()
    exit(0)
}

let duration = Int(benchEnvironment["DURATION"] ?? "") ?? 10
let concurrency = Int(benchEnvironment["CONCURRENCY"] ?? "") ?? 32
let replayConcurrency = Int(benchEnvironment["REPLAY_CONCURRENCY"] ?? "") ?? 64
let userCount = Int(benchEnvironment["USERS"] ?? "") ?? 64
let usersURL = databaseURL("SOUK_BENCH_USERS_DATABASE_URL", devDB: "users")
let ordersURL = databaseURL("SOUK_BENCH_ORDERS_DATABASE_URL", devDB: "orders")
let paymentsURL = databaseURL("SOUK_BENCH_PAYMENTS_DATABASE_URL", devDB: "payments")
let pgbenchURL = databaseURL("SOUK_BENCH_DATABASE_URL", devDB: "test")
let me = URL(fileURLWithPath: CommandLine.arguments[0]).path

// 1. Keys and the servers.
let work = try makeBenchKeys(executable: me, bench: "payments-bench")
let (usersPort, ordersPort, paymentsPort) = (freePort(), freePort(), freePort())
guard let usersPID = spawn(me, ["souk", "users", "--no-admin", "--port", String(usersPort), "--database-url", usersURL,
                                "--signing-key-file", "\(work)/users.key", "--service-keys-file", "\(work)/services.pub"],
                           outputPath: "\(work)/users.log") else { fail("cannot start souk users") }
guard let ordersPID = spawn(me, ["souk", "orders", "--no-admin", "--port", String(ordersPort), "--database-url", ordersURL,
                                 "--users-address", "127.0.0.1:\(usersPort)", "--users-public-keys-file", "\(work)/users.pub",
                                 "--service-signing-key-file", "\(work)/services.key", "--service-keys-file", "\(work)/services.pub"],
                            outputPath: "\(work)/orders.log") else { fail("cannot start souk orders") }
guard let paymentsPID = spawn(me, ["souk", "payments", "--no-admin", "--port", String(paymentsPort), "--database-url", paymentsURL,
                                   "--orders-address", "127.0.0.1:\(ordersPort)", "--users-public-keys-file", "\(work)/users.pub",
                                   "--service-signing-key-file", "\(work)/services.key"],
                              outputPath: "\(work)/payments.log") else { fail("cannot start souk payments") }
let servers = [paymentsPID, ordersPID, usersPID]

let usersClient = RPCClient(host: "127.0.0.1", port: usersPort)
let ordersClient = RPCClient(host: "127.0.0.1", port: ordersPort)
let paymentsClient = RPCClient(host: "127.0.0.1", port: paymentsPort)
let users = UsersService.Client(transport: usersClient)
let orders = OrdersService.Client(transport: ordersClient)
let payments = PaymentsService.Client(transport: paymentsClient)

/// Waits until the three services answer (an unauthenticated call is answered once a server is up and migrated).
func waitForServers() async throws {
    func answers(_ call: () async throws -> Void) async -> Bool {
        do { try await call() } catch let error as RPCError where error.code == .unauthenticated { return true } catch {}
        return false
    }
    for _ in 0 ..< 300 {
        checkStillRunning([(usersPID, "users", "\(work)/users.log"), (ordersPID, "orders", "\(work)/orders.log"),
                           (paymentsPID, "payments", "\(work)/payments.log")])
        if await answers({ _ = try await users.getCurrentUser(GetCurrentUserRequest()) }),
           await answers({ _ = try await orders.listOrders(ListOrdersRequest()) }),
           await answers({ _ = try await payments.getPayment(GetPaymentRequest()) }) {
            return
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    stopProcesses(servers)
    fail("the services did not start")
}
try await waitForServers()
print("souk users :\(usersPort), souk orders :\(ordersPort), souk payments :\(paymentsPort) (pids \(usersPID), \(ordersPID), \(paymentsPID))")

/// Brings the statistics of the growing tables up to date, as autovacuum would (see orders-bench).
func analyze() async throws {
    let ordersPool = try PostgresPool(url: ordersURL)
    try await ordersPool.execute("ANALYZE orders, order_items, order_status_history")
    await ordersPool.shutdown()
    let paymentsPool = try PostgresPool(url: paymentsURL)
    try await paymentsPool.execute("ANALYZE payments, idempotency_keys, payment_outbox")
    await paymentsPool.shutdown()
}

/// Deletes this run's accounts, orders, payments, keys and outbox rows.
func cleanUp(_ accounts: BenchAccounts) async throws {
    try await accounts.deleteUsers(usersURL: usersURL)
    let ordersPool = try PostgresPool(url: ordersURL)
    let paymentsPool = try PostgresPool(url: paymentsURL)
    for id in accounts.ids {
        try await ordersPool.execute("DELETE FROM orders WHERE user_id = \(id)")
        try await paymentsPool.execute("""
            WITH gone AS (DELETE FROM payment_outbox WHERE payment_id IN (SELECT payment_id FROM payments WHERE user_id = \(id)))
            DELETE FROM idempotency_keys WHERE user_id = \(id)
            """)
        try await paymentsPool.execute("DELETE FROM payments WHERE user_id = \(id)")
    }
    await ordersPool.shutdown()
    await paymentsPool.shutdown()
}

/// A payment made in the flow, to replay.
struct Made: Sendable {
    var worker: Int
    var key: String
    var request: CreatePaymentRequest
}

let accounts = BenchAccounts()
let flow: Phase, replay: Phase
var unpaid = 0
do {
    // 2. Accounts.
    try await accounts.signUp(count: userCount, users: users)
    let signedIn = accounts
    @Sendable func purchase(_ worker: Int) async throws -> Made {
        let placed = try await orders.createOrder(benchOrder, options: signedIn.options(worker))
        var request = CreatePaymentRequest()
        request.orderId = placed.id
        request.amount = placed.total
        request.currency = placed.currency
        var card = Card()
        (card.number, card.expMonth, card.expYear, card.cvc) = ("4242424242424242", 12, 2031, "123")
        request.card = card
        let key = UUID().uuidString
        var options = signedIn.options(worker)
        options.metadata.append("idempotency-key", key)
        let payment = try await payments.createPayment(request, options: options)
        guard payment.status == .succeeded else { throw RPCError(.internal, "a payment was \(payment.status)") }
        return Made(worker: worker, key: key, request: request)
    }
    // 3. The flow (a warm-up first, then statistics, as a database that has been running has them).
    _ = try await measure(concurrency: concurrency, seconds: 2, serverPIDs: servers) { worker, _ in try await purchase(worker) }
    try await analyze()
    print("flow (CreateOrder + CreatePayment): \(concurrency) in flight, \(duration) s …")
    let (flowPhase, made) = try await measure(concurrency: concurrency, seconds: duration, serverPIDs: servers) { worker, _ in
        try await purchase(worker)
    }
    flow = flowPhase
    // Every order of the flow was PAID by the time its payment answered (delivered inline)?
    let paymentsPool = try PostgresPool(url: paymentsURL)
    unpaid = Int(try await paymentsPool.query("SELECT count(*) FROM payment_outbox WHERE settled_at IS NULL")[0].decode(0, as: Int64.self))
    await paymentsPool.shutdown()
    // 4. Replays of the flow's keys.
    let replays = made
    print("replays of existing keys: \(replayConcurrency) in flight, \(duration) s …")
    (replay, _) = try await measure(concurrency: replayConcurrency, seconds: duration, serverPIDs: servers) { worker, iteration in
        let one = replays[(worker * 7919 + iteration) % replays.count]
        var options = signedIn.options(one.worker)
        options.metadata.append("idempotency-key", one.key)
        _ = try await payments.createPayment(one.request, options: options)
        return nil as Int?
    }
    await usersClient.close()
    await ordersClient.close()
    await paymentsClient.close()
    stopProcesses(servers)
    try await cleanUp(accounts)
} catch {
    await usersClient.close()
    await ordersClient.close()
    await paymentsClient.close()
    stopProcesses(servers)
    try? await cleanUp(accounts)
    fail("\(error)")
}

// 5. pgbench on the same server.
let writes = try await pgbenchReference(["-N"], url: pgbenchURL, seconds: duration)

print("")
print("| workload | per second | p50 ms | p99 ms | services' CPU µs/op | reference | ratio |")
print("|---|--:|--:|--:|--:|---|--:|")
print(String(format: "| flow: CreateOrder + CreatePayment, %d in flight | %.0f flows | %.2f | %.2f | %.0f | pgbench -N -c 8 -j 2: %.0f tps | %.2f |",
             concurrency, flow.rate, percentile(flow.latencies, 0.50) / 1000, percentile(flow.latencies, 0.99) / 1000,
             flow.serverCPU, writes.rate, flow.rate / writes.rate))
print(String(format: "| CreatePayment replaying a key, %d in flight | %.0f calls | %.2f | %.2f | %.0f | pgbench -N -c 8 -j 2: %.0f tps | %.2f |",
             replayConcurrency, replay.rate, percentile(replay.latencies, 0.50) / 1000, percentile(replay.latencies, 0.99) / 1000,
             replay.serverCPU, writes.rate, replay.rate / writes.rate))
print("outbox rows still undelivered when the flow ended: \(unpaid)")
