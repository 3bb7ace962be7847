import Foundation
import Logging
import SoukRPCCore
import SoukServiceKit
import Testing
@testable import SoukPostgres

/// The test database: `SOUK_TEST_DATABASE_URL`, which Tools/test sets after starting the local
/// cluster (`Tools/dev-db start`; `Tools/dev-db url test` prints it). Without it the tests fail,
/// they never skip.
enum TestDatabase {
    static let environmentVariable = "SOUK_TEST_DATABASE_URL"

    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment[environmentVariable], !url.isEmpty else {
            Issue.record("""
                \(environmentVariable) is not set. Start the local cluster and point the tests at it:
                  Tools/dev-db start && export \(environmentVariable)=$(Tools/dev-db url test)
                (Tools/test does both.)
                """)
            throw MissingDatabase()
        }
        return url
    }

    struct MissingDatabase: Error {}

    /// A name unique to one test run, for application names, schemas, lock keys.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    static var logger: Logger {
        var logger = Logger(label: "souk.postgres.tests")
        // Quiet by default; SOUK_TEST_LOG_LEVEL=debug shows what the pools do.
        logger.logLevel = ProcessInfo.processInfo.environment["SOUK_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// A pool on the test database, shut down when `body` ends however it ends.
    static func withPool<Result>(
        applicationName: String = uniqueName("souk_test"),
        statementTimeout: Duration? = nil,
        options: PostgresPool.Options = .init(maxConnections: 4, acquireTimeout: .seconds(5)),
        url: String? = nil,
        _ body: (PostgresPool) async throws -> Result
    ) async throws -> Result {
        let pool = try PostgresPool(url: url ?? TestDatabase.url(), applicationName: applicationName,
                                    statementTimeout: statementTimeout, options: options, logger: logger)
        do {
            let result = try await body(pool)
            await pool.shutdown()
            return result
        } catch {
            await pool.shutdown()
            throw error
        }
    }

    /// Connections the server sees for `applicationName`.
    static func connectionCount(applicationName: String, on pool: PostgresPool) async throws -> Int {
        let rows = try await pool.query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(applicationName)")
        return Int(try rows[0].decode(0, as: Int64.self))
    }

    /// Polls until `condition` holds or `timeout` passes; the last value of the condition.
    static func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    /// The repository's root folder (Tests/SoukPostgresTests/ is two levels below it).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// Runs `operation`, failing with a clear message if it outlives `limit`.
func withTimeLimit<T: Sendable>(_ limit: Duration, _ what: String,
                                _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimeLimitExceeded(description: "\(what) took longer than \(limit)")
        }
        return value
    }
}

struct TimeLimitExceeded: Error, CustomStringConvertible {
    let description: String
}

/// Meets two tasks at one point: each waits until both have arrived.
actor Barrier {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arrive() async {
        arrived += 1
        if arrived >= parties {
            waiting.forEach { $0.resume() }
            waiting = []
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
    }
}

/// Runs a program to completion within `timeout`; its standard output, or an error with its output.
///
/// posix_spawn and a thread blocked in waitpid rather than Foundation's `Process`, whose
/// termination handler was seen never to fire here (the child stayed a zombie). Output goes
/// to a temporary file, so a server the program leaves running cannot hold a pipe open.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                timeout: Duration = .seconds(120)) async throws -> String {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("souk-run-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
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
    let environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard spawned == 0 else { throw ProgramFailed(description: "cannot start \(path): error \(spawned)") }
    let command = "\(path) \(arguments.joined(separator: " "))"
    let child = pid
    let status: Int32
    do {
        status = try await withTimeLimit(timeout, command) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
                Thread {
                    var status: Int32 = 0
                    while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                    continuation.resume(returning: status)
                }.start()
            }
        }
    } catch {
        kill(child, SIGKILL)
        throw error
    }
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    // The wait status: exited normally (low 7 bits zero) with code 0.
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
        throw ProgramFailed(description: "\(command) failed (wait status \(status)): \(output)")
    }
    return output
}

struct ProgramFailed: Error, CustomStringConvertible {
    let description: String
}
