// A Souk RPC server hosting InteropService (Tests/Protos/souk/test/v1/interop.proto)
// and the health service on 127.0.0.1, for the Python client's tests and the benchmark.
//
//   souk-interop-server [--port N] [--max-frame-bytes N] [--max-concurrent-calls N]
//                       [--idle-timeout-ms N] [--handlers global|event-loop]
//
// Prints `listening on 127.0.0.1:PORT` on stdout once it accepts connections (port 0
// picks a free port), and shuts down gracefully on SIGTERM or SIGINT.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ServiceLifecycle
import SoukRPC
import TestContracts

/// Writes to standard error without touching the C `stderr` global, which Swift 6 flags.
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func usage(_ message: String) -> Never {
    printError("souk-interop-server: \(message)")
    printError("usage: souk-interop-server [--port N] [--max-frame-bytes N] [--max-concurrent-calls N] [--idle-timeout-ms N] [--handlers global|event-loop]")
    exit(2)
}

var configuration = RPCServer.Configuration(host: "127.0.0.1", port: 0)
var arguments = CommandLine.arguments.dropFirst()[...]
while let argument = arguments.popFirst() {
    func intValue() -> Int {
        guard let text = arguments.popFirst(), let value = Int(text), value >= 0 else { usage("\(argument) needs a number") }
        return value
    }
    switch argument {
    case "--port": configuration.port = intValue()
    case "--max-frame-bytes": configuration.limits = FrameLimits(maxFrameLength: intValue())
    case "--max-concurrent-calls": configuration.maxConcurrentCallsPerConnection = intValue()
    case "--idle-timeout-ms": configuration.idleTimeout = .milliseconds(intValue())
    case "--handlers":
        switch arguments.popFirst() {
        case "global": configuration.handlerExecution = .globalPool
        case "event-loop": configuration.handlerExecution = .eventLoop
        default: usage("--handlers takes global or event-loop")
        }
    case "-h", "--help": usage("help")
    default: usage("unknown option \(argument)")
    }
}

var logger = Logger(label: "souk.interop-server")
logger.logLevel = .notice
let server = RPCServer(services: [InteropHandler()], configuration: configuration, logger: logger)

Task {
    do {
        let address = try await server.listeningAddress
        print("listening on 127.0.0.1:\(address.port ?? 0)")
        fflush(nil)  // the parent reads this line to learn the port
    } catch {
        printError("souk-interop-server: \(error)")
        exit(1)
    }
}

let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
do {
    try await group.run()
} catch {
    printError("souk-interop-server: \(error)")
    exit(1)
}
