// What the benchmarks of the services share: accounts to call as, the order they place, and
// the pgbench reference run on the same server.
import BenchSupport
import Foundation
import SoukContracts
import SoukPostgres
import SoukRPCCore

/// The accounts of one run, `bench-<tag>-<n>@bench.souk.invalid`, signed in. Filled once by
/// ``signUp(count:users:)`` before the run's concurrent phases, read-only after.
public final class BenchAccounts: @unchecked Sendable {
    public let tag = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)
    public private(set) var ids: [UUID] = []
    public private(set) var tokens: [String] = []

    public init() {}

    /// Call options carrying account `index % count`'s access token.
    public func options(_ index: Int, timeout: Duration = .seconds(10)) -> CallOptions {
        CallOptions(timeout: timeout, metadata: Metadata(["authorization": "Bearer \(tokens[index % tokens.count])"]))
    }

    /// Creates `count` accounts through `users` and signs each in.
    public func signUp(count: Int, users: UsersService.Client) async throws {
        for index in 0 ..< count {
            var request = CreateUserRequest()
            request.email = "bench-\(tag)-\(index)@bench.souk.invalid"
            request.password = "bench-password-not-secret"
            request.fullName = "Bench User \(index)"
            let user = try await users.createUser(request)
            ids.append(UUID(uuidString: user.id)!)
            var signIn = AuthenticateRequest()
            signIn.email = request.email
            signIn.password = request.password
            tokens.append(try await users.authenticate(signIn).accessToken)
        }
    }

    /// Deletes the run's accounts from the users database at `usersURL`.
    public func deleteUsers(usersURL: String) async throws {
        let pool = try PostgresPool(url: usersURL)
        let pattern = "bench-\(tag)-%@bench.souk.invalid"
        try await pool.execute("DELETE FROM users WHERE email LIKE \(pattern)")
        await pool.shutdown()
    }
}

/// The order every bench places: three lines, 7,645 EUR.
public let benchOrder: CreateOrderRequest = {
    var order = CreateOrderRequest()
    order.currency = "EUR"
    order.items = [("BOOK-1", 2, 1999), ("PEN-BLK", 1, 250), ("NOTEBOOK-A5", 3, 799)].map { line in
        var item = Order.Item()
        (item.sku, item.quantity, item.unitPrice) = (line.0, Int32(line.1), Int64(line.2))
        return item
    }
    return order
}()

/// `pgbench MODE -c 8 -j 2 -T seconds` against the database at `url` (initialised on first use).
public func pgbenchReference(_ mode: [String], url: String, seconds: Int) async throws -> (rate: Double, latency: String, cpu: Double) {
    let configuration = try PostgresConfiguration(url: url)
    let pgbench = PgbenchTarget(parameter: configuration.urlParameter)
    let pool = PostgresPool(configuration: configuration)
    let count = try await pool.query("SELECT count(*) FROM pg_class WHERE relname = 'pgbench_accounts'")[0].decode(0, as: Int64.self)
    await pool.shutdown()
    pgbench.initialise(exist: count > 0)
    return pgbench.workload(mode, seconds: seconds)
}
