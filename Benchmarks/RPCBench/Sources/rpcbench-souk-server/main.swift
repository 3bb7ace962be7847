// The Souk RPC echo server of the benchmark, in a binary of its own so that its RSS
// is Souk's, not grpc-swift's or BoringSSL's:
//   rpcbench-souk-server [--handlers global|event-loop] [--port N] [--max-connections-per-peer N]
// Serves InteropService (UnaryCall echoes its payload) and prints `listening on PORT`.
#if canImport(Glibc)
import Glibc
#endif
import Logging
import SoukRPC
import TestContracts

var port = 0
var execution = RPCServer.HandlerExecution.globalPool
var perPeer = RPCServer.Configuration().maxConnectionsPerPeer
var arguments = CommandLine.arguments.dropFirst()[...]
while let argument = arguments.popFirst() {
    switch argument {
    case "--port": port = Int(arguments.popFirst() ?? "") ?? 0
    case "--handlers": execution = arguments.popFirst() == "event-loop" ? .eventLoop : .globalPool
    case "--max-connections-per-peer": perPeer = Int(arguments.popFirst() ?? "") ?? perPeer
    default: break
    }
}
var logger = Logger(label: "rpcbench")
logger.logLevel = .error
let server = RPCServer(services: [InteropHandler()],
                       configuration: .init(host: "127.0.0.1", port: port, maxConnectionsPerPeer: perPeer,
                                                           handlerExecution: execution), logger: logger)
Task {
    let address = try await server.listeningAddress
    print("listening on \(address.port!)")
    fflush(nil)
}
try await server.run()
