import Foundation
import Logging
import SoukRPCCore
import SoukServiceKit
import Testing
@testable import SoukPostgres

@Suite("errors and their RPC statuses")
struct ErrorTests {
    @Test("server errors carry SQLSTATE, message, detail, table, column and constraint, and map to RPC statuses")
    func constraintViolations() async throws {
        try await TestDatabase.withPool { pool in
            try await pool.withConnection { connection in
                try await connection.execute("CREATE TEMP TABLE parents (id int PRIMARY KEY)")
                try await connection.execute("""
                    CREATE TEMP TABLE children (
                        id int PRIMARY KEY,
                        parent int REFERENCES parents (id),
                        age int CHECK (age >= 0),
                        name text NOT NULL
                    )
                    """)
                try await connection.execute("INSERT INTO parents VALUES (1)")
                try await connection.execute("INSERT INTO children VALUES (1, 1, 3, 'a')")

                let unique = await #expect(throws: PostgresError.self) {
                    try await connection.execute("INSERT INTO children VALUES (1, 1, 3, 'b')")
                }
                #expect(unique?.sqlState == SQLState.uniqueViolation)
                #expect(unique?.constraint == "children_pkey")
                #expect(unique?.table == "children")
                #expect(unique?.detail?.contains("(id)=(1)") == true)
                #expect(unique?.rpcStatusCode == .alreadyExists)

                let foreignKey = await #expect(throws: PostgresError.self) {
                    try await connection.execute("INSERT INTO children VALUES (2, \(Int32(99)), 3, 'b')")
                }
                #expect(foreignKey?.sqlState == SQLState.foreignKeyViolation)
                #expect(foreignKey?.constraint == "children_parent_fkey")
                #expect(foreignKey?.rpcStatusCode == .failedPrecondition)

                let check = await #expect(throws: PostgresError.self) {
                    try await connection.execute("INSERT INTO children VALUES (3, 1, \(Int32(-1)), 'b')")
                }
                #expect(check?.sqlState == SQLState.checkViolation)
                #expect(check?.constraint == "children_age_check")
                #expect(check?.rpcStatusCode == .failedPrecondition)

                let notNull = await #expect(throws: PostgresError.self) {
                    try await connection.execute("INSERT INTO children VALUES (4, 1, 1, \(String?.none))")
                }
                #expect(notNull?.column == "name")
                #expect(notNull?.rpcStatusCode == .failedPrecondition)
            }
        }
    }

    @Test("other server errors become INTERNAL with a generic message; the detail stays in the log")
    func internalErrors() async throws {
        try await TestDatabase.withPool { pool in
            let syntax = await #expect(throws: PostgresError.self) { try await pool.query("SELEC secret_column FROM x") }
            #expect(syntax?.sqlState == "42601")
            #expect(syntax?.kind == .server)
            let logs = LogCapture()
            let rpc = syntax!.rpcError(logger: Logger(label: "test") { _ in logs })
            #expect(rpc.code == .internal)
            #expect(rpc.message == "internal error")
            #expect(!rpc.message.contains("SELEC"))
            #expect(logs.messages.contains { $0.contains("42601") }, "the detail is logged")

            let unique = PostgresError(kind: .server, sqlState: SQLState.uniqueViolation, message: "duplicate key value violates unique constraint \"users_email_key\"",
                                       detail: "Key (email)=(a@example.com) already exists.", constraint: "users_email_key")
            let mapped = RPCError(postgres: unique, logger: Logger(label: "test") { _ in logs })
            #expect(mapped.code == .alreadyExists)
            #expect(!mapped.message.contains("example.com"), "values never reach the caller")
            #expect(!logs.messages.contains { $0.contains("example.com") }, "nor the log")

            // A check violation's detail is the failing row, secrets included: never logged.
            _ = try await pool.execute("CREATE TEMP TABLE secrets (hash text CHECK (length(hash) < 5))")
            let check = await #expect(throws: PostgresError.self) {
                try await pool.execute("INSERT INTO secrets VALUES (\("$argon2id$v=19$secret-salt"))")
            }
            #expect(check?.detail?.contains("secret-salt") == true)
            _ = RPCError(postgres: check!, logger: Logger(label: "test") { _ in logs })
            #expect(logs.messages.contains { $0.contains("23514") })
            #expect(!logs.messages.contains { $0.contains("secret-salt") })
        }
    }

    @Test("any error from the library maps to an RPC error")
    func anyErrorMapping() {
        let logger = Logger(label: "test") { _ in LogCapture() }
        #expect(RPCError(postgres: CancellationError(), logger: logger).code == .cancelled)
        #expect(RPCError(postgres: RPCError(.notFound, "no"), logger: logger).code == .notFound)
        #expect(RPCError(postgres: MigrationError.invalidFileName("x"), logger: logger).code == .internal)
        #expect(RPCError(postgres: PostgresError(kind: .server, sqlState: "57P01", message: "terminating"), logger: logger).code == .unavailable)
        #expect(RPCError(postgres: PostgresError(kind: .server, sqlState: "08006", message: "broken"), logger: logger).code == .unavailable)
    }

    @Test("a server that cannot be reached fails fast as UNAVAILABLE")
    func connectionRefused() async throws {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        try await TestDatabase.withPool(url: "postgres://nobody@127.0.0.1:1/nothing") { pool in
            let started = ContinuousClock.now
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            #expect(error?.kind == .connectionFailed)
            #expect(error?.rpcStatusCode == .unavailable)
            #expect(ContinuousClock.now - started < .seconds(3))
            let scoped = await #expect(throws: PostgresError.self) { try await pool.transaction { _ in } }
            #expect(scoped?.rpcStatusCode == .unavailable)
        }
    }

    @Test("a wrong password fails as UNAVAILABLE without leaking it")
    func wrongPassword() async throws {
        var config = try PostgresConfiguration(url: TestDatabase.url())
        let url = "postgres://souk_test:wrong@\(config.urlParameter("host")!):\(config.urlParameter("port")!)/souk_test"
        config = try PostgresConfiguration(url: url)
        try await TestDatabase.withPool(url: url) { pool in
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            #expect(error?.kind == .connectionFailed)
            #expect(error?.message.contains("password authentication failed") == true)
        }
    }
}

/// Collects log messages.
final class LogCapture: LogHandler, @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var stored: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var messages: [String] { lock.withLock { stored } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let line = "\(event.message) \(event.metadata ?? [:])"
        lock.withLock { stored.append(line) }
    }
}
