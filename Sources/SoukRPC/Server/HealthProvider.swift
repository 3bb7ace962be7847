import SoukRPCCore
import SoukWire
import Synchronization

/// The serving status a server reports through `souk.rpc.v1.HealthService/Check`.
///
/// Every service the server hosts starts SERVING. A service sets its own status
/// (e.g. NOT_SERVING while its database is unreachable) with ``setStatus(_:for:)``;
/// the empty name is the server as a whole. While the server drains, every
/// answer is NOT_SERVING.
public final class HealthProvider: Sendable {
    private struct State {
        var statuses: [String: ServingStatus] = ["": .serving]
        var draining = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Sets the status of `service` (its full name) or, with `""`, of the whole server.
    public func setStatus(_ status: ServingStatus, for service: String = "") {
        state.withLock { $0.statuses[service] = status }
    }

    /// Registers a hosted service as SERVING unless it already has a status.
    func register(service: String) {
        state.withLock { state in
            if state.statuses[service] == nil { state.statuses[service] = .serving }
        }
    }

    /// From now on every status is NOT_SERVING.
    func beginDraining() {
        state.withLock { $0.draining = true }
    }

    /// The status of `service`, or nil when the server does not host it.
    public func status(of service: String) -> ServingStatus? {
        state.withLock { state in
            guard let status = state.statuses[service] else { return nil }
            return state.draining ? .notServing : status
        }
    }
}

/// `souk.rpc.v1.HealthService`, served by every ``RPCServer``.
struct HealthServiceImplementation: HealthService.Handler {
    let provider: HealthProvider

    func check(_ request: HealthCheckRequest, context: ServerContext) async throws -> HealthCheckResponse {
        guard let status = provider.status(of: request.service) else {
            throw RPCError(.notFound, "this server does not host the service \"\(request.service)\"")
        }
        var response = HealthCheckResponse()
        response.status = status
        return response
    }
}
