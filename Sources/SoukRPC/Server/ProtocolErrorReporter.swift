import Logging
import Metrics
import NIOCore
import SoukRPCCore
import Synchronization

/// Counts protocol errors in `souk_rpc_server_protocol_errors_total{code}` and logs
/// them at most ``linesPerSecond`` times a second for the whole server, saying how
/// many were left out: any client can cause one per connection, so one line each
/// would let it flood the log.
final class ProtocolErrorReporter: Sendable {
    static let linesPerSecond = 5

    private let logger: Logger
    private let factory: any MetricsFactory
    private let counters = Mutex<[RPCStatusCode: Counter]>([:])
    private let window = Mutex<(start: NIODeadline, logged: Int, suppressed: Int)>((.distantPast, 0, 0))

    init(logger: Logger, factory: any MetricsFactory = MetricsSystem.factory) {
        self.logger = logger
        self.factory = factory
    }

    func report(_ error: FramingError, peer: String) {
        counter(for: error.code).increment()
        let now = NIODeadline.now()
        let (log, suppressedBefore) = window.withLock { window -> (Bool, Int) in
            if now - window.start >= .seconds(1) {
                let suppressed = window.suppressed
                window = (now, 1, 0)
                return (true, suppressed)
            }
            if window.logged < Self.linesPerSecond {
                window.logged += 1
                return (true, 0)
            }
            window.suppressed += 1
            return (false, 0)
        }
        guard log else { return }
        var metadata: Logger.Metadata = ["peer": "\(peer)", "code": "\(error.code.name)", "reason": "\(error.reason)"]
        if suppressedBefore > 0 { metadata["suppressed"] = "\(suppressedBefore)" }
        logger.info("protocol error; GOAWAY sent", metadata: metadata)
    }

    private func counter(for code: RPCStatusCode) -> Counter {
        counters.withLock { counters in
            if let counter = counters[code] { return counter }
            let counter = Counter(label: "souk_rpc_server_protocol_errors_total", dimensions: [("code", code.name)], factory: factory)
            counters[code] = counter
            return counter
        }
    }
}
