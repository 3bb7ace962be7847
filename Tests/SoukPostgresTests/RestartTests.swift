import Foundation
import SoukRPCCore
import SoukServiceKit
import Testing
@testable import SoukPostgres

/// Crashes and restarts a PostgreSQL server under a working pool. The shared test cluster is
/// never touched: this test makes a throwaway cluster of its own with Tools/dev-db, in
/// var/pg-restart-test on port SOUK_TEST_RESTART_PG_PORT (default 55433).
@Suite("server restarts")
struct RestartTests {
    @Test("after pg_ctl stop -m immediate and a start, the pool recovers by itself; meanwhile queries fail fast as UNAVAILABLE",
          .timeLimit(.minutes(3)))
    func recoversFromRestart() async throws {
        let root = TestDatabase.repositoryRoot
        let tool = root.appendingPathComponent("Tools/dev-db").path
        let environment = [
            "SOUK_PG_DIR": root.appendingPathComponent("var/pg-restart-test").path,
            "SOUK_PG_PORT": ProcessInfo.processInfo.environment["SOUK_TEST_RESTART_PG_PORT"] ?? "55433",
        ]
        _ = try await runProgram(tool, ["start"], environment: environment)
        let url = try await runProgram(tool, ["url", "test"], environment: environment)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let acquireTimeout = Duration.seconds(2)
        let pool = try PostgresPool(url: url, applicationName: "souk-restart-test",
                                    options: .init(maxConnections: 4, acquireTimeout: acquireTimeout), logger: TestDatabase.logger)
        do {
            // Warm every connection, so each has a session for the crash to break.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0 ..< 8 { group.addTask { _ = try await pool.query("SELECT pg_sleep(0.05)") } }
                try await group.waitForAll()
            }
            let before = try await pool.query("SELECT pg_postmaster_start_time()")[0].decode(0, as: Date.self)

            // A statement running when the server dies fails, and does not hang.
            let inFlight = Task { try await pool.query("SELECT pg_sleep(20)") }
            try await Task.sleep(for: .milliseconds(200))
            _ = try await runProgram(tool, ["stop", "--immediate"], environment: environment)
            let inFlightResult = await inFlight.result
            #expect(throws: PostgresError.self) { try inFlightResult.get() }

            // During the outage every query fails with an UNAVAILABLE error, within the acquire timeout.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0 ..< 12 {
                    group.addTask {
                        let started = ContinuousClock.now
                        let failure: (any Error)?
                        do {
                            _ = try await pool.query("SELECT 1")
                            failure = nil
                        } catch {
                            failure = error
                        }
                        let took = ContinuousClock.now - started
                        #expect(took < acquireTimeout + .seconds(1), "a query during the outage took \(took)")
                        guard let error = failure else {
                            Issue.record("a query succeeded while the server was down")
                            return
                        }
                        let status = RPCError(postgres: error, logger: TestDatabase.logger).code
                        #expect(status == .unavailable, "\(error) mapped to \(status)")
                        return
                    }
                }
                try await group.waitForAll()
            }

            _ = try await runProgram(tool, ["start"], environment: environment)
            // The first query after the restart succeeds: broken connections were dropped, not reused.
            let after = try await pool.query("SELECT pg_postmaster_start_time()")[0].decode(0, as: Date.self)
            #expect(after > before, "a new server answered")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0 ..< 20 {
                    group.addTask {
                        let echoed = try await pool.query("SELECT \(Int64(i))")[0].decode(0, as: Int64.self)
                        #expect(echoed == Int64(i))
                    }
                }
                try await group.waitForAll()
            }
            await pool.shutdown()
            _ = try await runProgram(tool, ["stop"], environment: environment)
        } catch {
            await pool.shutdown()
            _ = try? await runProgram(tool, ["start"], environment: environment)
            _ = try? await runProgram(tool, ["stop"], environment: environment)
            throw error
        }
    }
}
