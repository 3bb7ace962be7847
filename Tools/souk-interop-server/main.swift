// A Souk RPC server hosting InteropService (Tests/Protos/souk/test/v1/interop.proto)
// and the health service on 127.0.0.1, for the Python client's tests and the benchmark.
// `souk-interop-server --help` lists its options. Prints `listening on 127.0.0.1:PORT`
// on stdout once it accepts connections (port 0 picks a free port), and shuts down
// gracefully on SIGTERM or SIGINT.
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

let help = """
    souk-interop-server: a Souk RPC server (PROTOCOL.md) hosting the interop test service
    souk.test.v1.InteropService (EmptyCall, UnaryCall; Tests/Protos/souk/test/v1/interop.proto)
    and souk.rpc.v1.HealthService, on 127.0.0.1.

    usage: souk-interop-server [options]

      --port N                         the port (default 0: any free one, printed as
                                       "listening on 127.0.0.1:PORT")
      --max-frame-bytes N              frame_length limit (default 4194304)
      --max-header-bytes N             header_length limit (default 65536)
      --max-concurrent-calls N         calls in flight per connection (default 1024)
      --max-connections N              connections in all (default 10000)
      --max-connections-per-peer N     connections from one IP address (default 256)
      --idle-timeout-ms N              idle timeout, 0 for none (default 300000)
      --preface-timeout-ms N           preface timeout (default 10000)
      --grace-ms N                     drain grace period (default 10000)
      --max-unsent-bytes-per-connection N   unread answer bytes per connection (default 16777216)
      --max-unsent-bytes N             unread answer bytes in all (default 268435456)
      --max-incomplete-frame-bytes N   incomplete frame bytes in all (default 268435456)
      --handlers global|event-loop     where handlers run (default global)
      --no-reflection                  serve no reflection service
      -h, --help                       this text

    SIGTERM or SIGINT starts a graceful shutdown (GOAWAY, drain, exit 0).
    """

func usage(_ message: String) -> Never {
    printError("souk-interop-server: \(message) (try --help)")
    exit(2)
}

var configuration = RPCServer.Configuration(host: "127.0.0.1", port: 0)
// Reflection serves the test contracts, so that `souk call` (built without them) can call it.
configuration.descriptorSets = [TestContractDescriptors.fileDescriptorSet]
var arguments = CommandLine.arguments.dropFirst()[...]
while let argument = arguments.popFirst() {
    func intValue() -> Int {
        guard let text = arguments.popFirst(), let value = Int(text), value >= 0 else { usage("\(argument) needs a number") }
        return value
    }
    switch argument {
    case "--port": configuration.port = intValue()
    case "--max-frame-bytes":
        configuration.limits = FrameLimits(maxFrameLength: intValue(), maxHeaderLength: configuration.limits.maxHeaderLength)
    case "--max-header-bytes":
        configuration.limits = FrameLimits(maxFrameLength: configuration.limits.maxFrameLength, maxHeaderLength: intValue())
    case "--max-concurrent-calls": configuration.maxConcurrentCallsPerConnection = intValue()
    case "--max-connections": configuration.maxConnections = intValue()
    case "--max-connections-per-peer": configuration.maxConnectionsPerPeer = intValue()
    case "--idle-timeout-ms":
        let value = intValue()
        configuration.idleTimeout = value == 0 ? nil : .milliseconds(value)
    case "--preface-timeout-ms": configuration.prefaceTimeout = .milliseconds(intValue())
    case "--grace-ms": configuration.shutdownGracePeriod = .milliseconds(intValue())
    case "--max-unsent-bytes-per-connection": configuration.maxUnsentBytesPerConnection = intValue()
    case "--max-unsent-bytes": configuration.maxUnsentBytes = intValue()
    case "--max-incomplete-frame-bytes": configuration.maxIncompleteFrameBytes = intValue()
    case "--no-reflection": configuration.reflection = false
    case "--handlers":
        switch arguments.popFirst() {
        case "global": configuration.handlerExecution = .globalPool
        case "event-loop": configuration.handlerExecution = .eventLoop
        default: usage("--handlers takes global or event-loop")
        }
    case "-h", "--help":
        print(help)
        exit(0)
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
