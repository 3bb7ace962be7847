import Foundation
import SoukObservability
#if canImport(Glibc)
import Glibc
#endif

/// A process `souk dev` runs, in a process group of its own (so that a Ctrl-C reaches `souk dev`
/// alone, which stops the children in order), its output relayed line by line behind a prefix.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let pid: pid_t
    /// Set once by the waiting thread; read under the lock.
    private let lock = NSLock()
    private var exitStatus: Int32?
    private let exited = DispatchSemaphore(value: 0)
    /// Signalled when the last of its output has been relayed.
    private let outputRelayed = DispatchSemaphore(value: 0)

    /// Starts `arguments[0]` (a path) with `environment`, stdin from /dev/null, stdout and stderr
    /// to `output`, which writes each line with its prefix.
    init(name: String, arguments: [String], environment: [String: String], output: LinePrefixer,
         onExit: @escaping @Sendable (ChildProcess, Int32) -> Void) throws {
        self.name = name
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ChildProcessError("cannot make a pipe for \(name): \(Self.errorText())") }
        // Close-on-exec, so that a later child does not hold this one's pipe open (its
        // dup2 onto 1 and 2 clears the flag for the child itself). Children start one at a time.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t(), empty = sigset_t()
        sigemptyset(&defaults)
        sigemptyset(&empty)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw ChildProcessError("cannot start \(arguments[0]) (\(name)): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        let readEnd = fds[0], spawnedPID = pid
        let relayed = outputRelayed
        Thread.detachNewThread {
            output.relay(from: readEnd)
            relayed.signal()
        }
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(spawnedPID, &status, 0) == -1 && errno == EINTR {}
            lock.withLock { exitStatus = status }
            exited.signal()
            onExit(self, status)
        }
    }

    var hasExited: Bool { lock.withLock { exitStatus != nil } }

    /// The wait status once the process has exited.
    var status: Int32? { lock.withLock { exitStatus } }

    func signal(_ signal: Int32) {
        if !hasExited { kill(pid, signal) }
    }

    /// Waits up to `timeout` for the process to exit, then for its last lines to be relayed, so
    /// that what the caller writes next comes after them; true when it exited.
    func wait(timeout: Duration) -> Bool {
        if !hasExited {
            let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            guard exited.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .success else { return false }
            exited.signal()  // for any later wait
        }
        // Not long: a grandchild that kept the pipe open would keep it from ending.
        if outputRelayed.wait(timeout: .now() + .seconds(2)) == .success { outputRelayed.signal() }
        return true
    }

    /// How a wait status reads to a person: `exit 1`, `killed by signal 9`.
    static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exit \((status >> 8) & 0xff)" }
        return "killed by signal \(signal)"
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}

struct ChildProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes the lines of several processes to standard output, each behind its name, coloured
/// when standard output is a terminal (and NO_COLOR is unset), plain otherwise.
final class LinePrefixer: Sendable {
    let prefix: String

    private static let colours = ["36", "35", "33", "32", "34", "31"]
    static let useColour = isatty(1) == 1 && getenv("NO_COLOR") == nil

    init(name: String, index: Int, width: Int) {
        let padded = name.padding(toLength: width, withPad: " ", startingAt: 0)
        prefix = Self.useColour ? "\u{1B}[\(Self.colours[index % Self.colours.count])m\(padded) |\u{1B}[0m " : "\(padded) | "
    }

    /// One line, written whole.
    func write(_ line: String) {
        StandardStream.write(prefix + line + "\n", to: 1)
    }

    /// Relays `fd` line by line until it closes.
    func relay(from fd: Int32) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                write(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { write(String(decoding: pending, as: UTF8.self)) }
        close(fd)
    }
}
