import ArgumentParser
import Dispatch
import Foundation
import SoukRPC
#if canImport(Glibc)
import Glibc
#endif

/// `souk dev`: the whole system on this machine, until Ctrl-C.
public struct DevCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run the whole system locally: PostgreSQL, users, orders, payments and the gateway, until Ctrl-C.",
        discussion: """
            Run from the checkout (Tools/dev builds, then calls this). Starts the local PostgreSQL cluster \
            (Tools/dev-db start), migrates the three databases, makes the development keys (var/keys), \
            starts users, orders, payments and the gateway as child processes with their logs behind \
            their names, waits until every /readyz answers 200, and prints the URLs. Ctrl-C or SIGTERM \
            stops the gateway, then the services (each drains its calls), then PostgreSQL if this run \
            started it. Addresses come \
            from SOUK_USERS_ADDRESS, SOUK_ORDERS_ADDRESS, SOUK_PAYMENTS_ADDRESS, SOUK_GATEWAY_ADDRESS and \
            SOUK_<SERVICE>_ADMIN_ADDRESS when set, else 127.0.0.1 ports 50051-50053, 8080 and 8081-8083; \
            the cluster from SOUK_PG_PORT and SOUK_PG_DIR (see Tools/dev-db).
            """)

    @Option(help: "The folder of the development keys.") public var keysDir = "var/keys"
    @Flag(help: "Neither start nor stop the local cluster: take SOUK_<SERVICE>_DATABASE_URL as given.")
    public var noDatabase = false
    @Option(help: "Seconds to wait for every part to be ready.") public var readyTimeoutSeconds = 120

    public init() {}

    /// One process of the system and where it listens.
    struct Part {
        let name: String
        let address: RPCClient.Endpoint
        /// Where its /readyz is: the admin port of a service, the gateway's own port.
        let probe: RPCClient.Endpoint
        let admin: RPCClient.Endpoint?
    }

    public func run() async throws {
        let say = LinePrefixer(name: "dev", index: 5, width: 8)
        let environment = ProcessInfo.processInfo.environment
        let parts = try plan(environment)
        try checkPortsAreFree(parts)

        let souk = try Self.executablePath()
        var childEnvironment = environment
        let devDB = "Tools/dev-db"
        // Whether this run starts the cluster, and so stops it at the end.
        var startedDatabase = false
        if !noDatabase {
            guard FileManager.default.isExecutableFile(atPath: devDB) else {
                throw ValidationError("souk dev runs from the checkout: \(devDB) is not here (cd to the checkout, or pass --no-database)")
            }
            // A cluster that was running before (another shell's, the tests') is left running at the end.
            startedDatabase = (try? capture([devDB, "status"], environment: environment)) == nil
            try runToEnd(name: "postgres", [devDB, "start"], environment: environment, index: 4)
            for service in ["users", "orders", "payments"] {
                childEnvironment["SOUK_\(service.uppercased())_DATABASE_URL"] = try capture([devDB, "url", service], environment: environment)
            }
        }
        try KeysCommand.Dev.makeKeys(in: keysDir) { say.write($0) }
        childEnvironment["SOUK_USERS_SIGNING_KEY_FILE"] = "\(keysDir)/users.key"
        childEnvironment["SOUK_USERS_PUBLIC_KEYS_FILE"] = "\(keysDir)/users.pub"
        childEnvironment["SOUK_SERVICE_SIGNING_KEY_FILE"] = "\(keysDir)/services.key"
        childEnvironment["SOUK_SERVICE_KEYS_FILE"] = "\(keysDir)/services.pub"
        for part in parts {
            let upper = part.name.uppercased()
            childEnvironment["SOUK_\(upper)_ADDRESS"] = part.address.description
            if let admin = part.admin { childEnvironment["SOUK_\(upper)_ADMIN_ADDRESS"] = admin.description }
        }
        for (index, service) in ["users", "orders", "payments"].enumerated() {
            try runToEnd(name: service, [souk, "migrate", service, "up"], environment: childEnvironment, index: index)
        }

        let supervisor = Supervisor()
        let gatewayBinary = URL(fileURLWithPath: souk).deletingLastPathComponent().appendingPathComponent("souk-gateway").path
        let environmentOfChildren = childEnvironment
        func start(_ index: Int) throws {
            let part = parts[index]
            let arguments = part.name == "gateway"
                ? (FileManager.default.isExecutableFile(atPath: gatewayBinary) ? [gatewayBinary] : [souk, "gateway"])
                : [souk, part.name]
            let child = try ChildProcess(name: part.name, arguments: arguments, environment: environmentOfChildren,
                                         output: LinePrefixer(name: part.name, index: index, width: 8)) { child, status in
                supervisor.exited(child, status: status)
            }
            supervisor.add(child)
        }
        for index in parts.indices { try start(index) }
        supervisor.trapSignals()

        if let failure = await waitUntilReady(parts, supervisor: supervisor) {
            say.write(failure)
            await stop(supervisor, stopDatabase: startedDatabase, say: say)
            throw ExitCode.failure
        }
        for line in Self.banner(parts) { say.write(line) }
        // A part that dies after it was ready is started again (a crash, a kill -9, an OOM), as
        // a process supervisor would, unless it keeps dying: then everything stops.
        var restarts: [String: [ContinuousClock.Instant]] = [:]
        while true {
            let event = await supervisor.nextEvent()
            guard case .childExited(let name, let status) = event else {
                say.write(event.message)
                break
            }
            let recent = (restarts[name] ?? []).filter { ContinuousClock.now - $0 < .seconds(60) }
            guard recent.count < 5, let index = parts.firstIndex(where: { $0.name == name }) else {
                say.write("\(name) exited (\(ChildProcess.describe(status: status))) 5 times within a minute; stopping the rest")
                await stop(supervisor, stopDatabase: startedDatabase, say: say)
                throw ExitCode.failure
            }
            say.write("\(name) exited (\(ChildProcess.describe(status: status))); starting it again in 1 s")
            restarts[name] = recent + [ContinuousClock.now]
            try? await Task.sleep(for: .seconds(1))
            if supervisor.signalled { continue }
            try start(index)
        }
        await stop(supervisor, stopDatabase: startedDatabase, say: say)
    }

    /// Where each part listens: the environment's addresses, else the defaults.
    func plan(_ environment: [String: String]) throws -> [Part] {
        func address(_ variable: String, _ fallback: Int) throws -> RPCClient.Endpoint {
            guard let text = environment[variable], !text.isEmpty else { return RPCClient.Endpoint(host: "127.0.0.1", port: fallback) }
            // A port of its own (souk dev waits for it), on an IPv4 address or a name (what it probes).
            guard let address = RPCClient.Endpoint(parsing: text), !address.host.contains(":") else {
                throw ValidationError("\(variable) must be one host:port with a port from 1 to 65535, not \(text)")
            }
            return address
        }
        var parts: [Part] = []
        for name in ["users", "orders", "payments"] {
            let ports = ServiceRunner.defaultPorts[name]!
            let admin = try address("SOUK_\(name.uppercased())_ADMIN_ADDRESS", ports.admin)
            parts.append(Part(name: name, address: try address("SOUK_\(name.uppercased())_ADDRESS", ports.rpc), probe: admin, admin: admin))
        }
        let gateway = try address("SOUK_GATEWAY_ADDRESS", 8080)
        parts.append(Part(name: "gateway", address: gateway, probe: gateway, admin: nil))
        return parts
    }

    /// Every port free, or an error naming the one taken, whose it is meant to be, and what to do.
    func checkPortsAreFree(_ parts: [Part]) throws {
        var wanted: [(RPCClient.Endpoint, String, String)] = []
        for part in parts {
            let upper = part.name.uppercased()
            wanted.append((part.address, part.name == "gateway" ? "the gateway's HTTP port" : "the \(part.name) RPC port",
                           "SOUK_\(upper)_ADDRESS"))
            if let admin = part.admin { wanted.append((admin, "the \(part.name) admin HTTP port", "SOUK_\(upper)_ADMIN_ADDRESS")) }
        }
        for (address, role, variable) in wanted where !Self.canBind(address) {
            throw ValidationError("""
                port \(address.port) (\(role)) on \(address.host) is taken by another process. Stop that process \
                (`ss -ltnp 'sport = :\(address.port)'` shows which; an earlier `souk dev` still running?), \
                or give this one another port: \(variable)=\(address.host):<port> souk dev
                """)
        }
    }

    static func canBind(_ address: RPCClient.Endpoint) -> Bool {
        let host = address.host == "localhost" ? "127.0.0.1" : address.host
        // A name other than localhost: the child will say.
        guard var socketAddress = HTTPProbe.ipv4(host, port: address.port) else { return true }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Polls every part's /readyz until all answer 200; a message when one exits or time runs out.
    func waitUntilReady(_ parts: [Part], supervisor: Supervisor) async -> String? {
        let deadline = ContinuousClock.now + .seconds(readyTimeoutSeconds)
        var waiting = parts
        while !waiting.isEmpty {
            if let exited = supervisor.firstExit() {
                return "\(exited.name) exited (\(ChildProcess.describe(status: exited.status))) before it was ready; its log is above"
            }
            if supervisor.signalled { return "stopping before the system was ready" }
            waiting.removeAll { HTTPProbe.status(host: $0.probe.host, port: $0.probe.port, path: "/readyz") == 200 }
            if waiting.isEmpty { break }
            if ContinuousClock.now > deadline {
                return "not ready after \(readyTimeoutSeconds) s: \(waiting.map { "\($0.name) (http://\($0.probe)/readyz)" }.joined(separator: ", "))"
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// Stops the gateway, then payments, orders and users (each after the ones that call it),
    /// each with SIGTERM and up to 30 s to drain, then the cluster if this run started it.
    func stop(_ supervisor: Supervisor, stopDatabase: Bool, say: LinePrefixer) async {
        supervisor.stopping = true
        for name in ["gateway", "payments", "orders", "users"] {
            guard let child = supervisor.child(named: name), !child.hasExited else { continue }
            child.signal(SIGTERM)
            if !child.wait(timeout: .seconds(30)) {
                say.write("\(name) did not stop within 30 s of SIGTERM; killing it")
                child.signal(SIGKILL)
                _ = child.wait(timeout: .seconds(5))
            }
        }
        if stopDatabase {
            try? runToEnd(name: "postgres", ["Tools/dev-db", "stop"], environment: ProcessInfo.processInfo.environment, index: 4)
        }
        say.write("stopped")
    }

    static func banner(_ parts: [Part]) -> [String] {
        let gateway = parts.first { $0.name == "gateway" }!.address
        var lines = [
            "Souk is up:",
            "  REST gateway   http://\(gateway)   (OpenAPI: http://\(gateway)/openapi.json)",
            "  API docs       http://\(gateway)/docs",
            "  metrics        http://\(gateway)/metrics",
        ]
        for part in parts where part.name != "gateway" {
            let padded = part.name.padding(toLength: 9, withPad: " ", startingAt: 0)
            lines.append("  \(padded)      RPC \(part.address)   admin http://\(part.admin!)/metrics, /readyz, /healthz")
        }
        let email = "ada-\(Int(Date().timeIntervalSince1970))@example.com"
        lines += [
            "Try:",
            "  curl -s -X POST http://\(gateway)/v1/users -H 'content-type: application/json' "
                + "-d '{\"email\":\"\(email)\",\"password\":\"correct horse battery\",\"fullName\":\"Ada\"}'",
            "Ctrl-C stops everything.",
        ]
        return lines
    }

    /// The path of this executable, for its children.
    static func executablePath() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { throw ValidationError("cannot find this executable's path (/proc/self/exe)") }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs a command to its end with its output prefixed; an error when it fails.
    func runToEnd(name: String, _ arguments: [String], environment: [String: String], index: Int) throws {
        let child = try ChildProcess(name: name, arguments: arguments, environment: environment,
                                     output: LinePrefixer(name: name, index: index, width: 8)) { _, _ in }
        _ = child.wait(timeout: .seconds(600))
        guard let status = child.status, status == 0 else {
            throw ValidationError("\(arguments.joined(separator: " ")) failed (\(ChildProcess.describe(status: child.status ?? -1)))")
        }
    }

    /// A command's standard output, trimmed; an error when it fails.
    func capture(_ arguments: [String], environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(arguments.joined(separator: " ")) failed (exit \(process.terminationStatus))")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The children of `souk dev`, and what ends its wait: a signal or a child's exit.
final class Supervisor: @unchecked Sendable {
    enum Event {
        case signal(String)
        case childExited(String, Int32)

        var message: String {
            switch self {
            case .signal(let name): return "\(name): stopping the gateway, the services, then PostgreSQL"
            case .childExited(let name, let status):
                return "\(name) exited (\(ChildProcess.describe(status: status)))"
            }
        }
    }

    private let lock = NSLock()
    private var children: [ChildProcess] = []
    private var exits: [(name: String, status: Int32)] = []
    private var events: [Event] = []
    private var waiter: CheckedContinuation<Event, Never>?
    private var signalSources: [DispatchSourceSignal] = []
    private var signalCount = 0
    var stopping: Bool {
        get { lock.withLock { stoppingFlag } }
        set { lock.withLock { stoppingFlag = newValue } }
    }
    private var stoppingFlag = false

    /// Adds a child, in place of an earlier one of the same name.
    func add(_ child: ChildProcess) {
        lock.withLock {
            children.removeAll { $0.name == child.name }
            children.append(child)
        }
    }

    func child(named name: String) -> ChildProcess? { lock.withLock { children.first { $0.name == name } } }

    func firstExit() -> (name: String, status: Int32)? { lock.withLock { exits.first } }

    var signalled: Bool { lock.withLock { signalCount > 0 } }

    func exited(_ child: ChildProcess, status: Int32) {
        let isStopping = lock.withLock { () -> Bool in
            exits.append((child.name, status))
            return stoppingFlag
        }
        if !isStopping { post(.childExited(child.name, status)) }
    }

    /// SIGINT and SIGTERM end the wait; a second one kills every child at once.
    func trapSignals() {
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                let count = lock.withLock { () -> Int in
                    signalCount += 1
                    return signalCount
                }
                if count == 1 {
                    post(.signal(name))
                } else {
                    for child in lock.withLock({ children }) { child.signal(SIGKILL) }
                }
            }
            source.resume()
            lock.withLock { signalSources.append(source) }
        }
    }

    private func post(_ event: Event) {
        let resume = lock.withLock { () -> CheckedContinuation<Event, Never>? in
            if let waiter {
                self.waiter = nil
                return waiter
            }
            events.append(event)
            return nil
        }
        resume?.resume(returning: event)
    }

    /// The first event not yet taken.
    func nextEvent() async -> Event {
        await withCheckedContinuation { continuation in
            let ready = lock.withLock { () -> Event? in
                if !events.isEmpty { return events.removeFirst() }
                waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A bare HTTP/1.0 GET on 127.0.0.1-style addresses, for readiness probes: the status code, or nil.
enum HTTPProbe {
    /// The socket address of a numeric IPv4 `host`, nil for anything else.
    static func ipv4(_ host: String, port: Int) -> sockaddr_in? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return inet_pton(AF_INET, host, &address.sin_addr) == 1 ? address : nil
    }

    static func status(host: String, port: Int, path: String) -> Int? {
        let numeric = host == "localhost" || host == "0.0.0.0" ? "127.0.0.1" : host
        guard var address = ipv4(numeric, port: port) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host):\(port)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 12 else { return nil }
        // "HTTP/1.1 200 ..."
        return Int(String(decoding: buffer[9..<12], as: UTF8.self))
    }
}
