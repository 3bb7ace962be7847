import SoukProtobuf
import SoukRPCCore
import Synchronization
import TestContracts

/// What handlers saw, for tests to read after the calls.
final class Observed: Sendable {
    private let state = Mutex<(contexts: [ServerContext], cancelled: Int, started: Int)>(([], 0, 0))

    func record(_ context: ServerContext) { state.withLock { $0.contexts.append(context); $0.started += 1 } }
    func recordCancellation() { state.withLock { $0.cancelled += 1 } }
    var contexts: [ServerContext] { state.withLock { $0.contexts } }
    var cancelled: Int { state.withLock { $0.cancelled } }
    var started: Int { state.withLock { $0.started } }
}

/// An `EchoService` whose `echo` runs `body` (to wait, throw, or relay to another
/// server through a generated stub) and whose other methods echo.
struct ScriptedEcho: EchoService.Handler {
    var observed = Observed()
    var body: @Sendable (EchoRequest, ServerContext) async throws -> EchoResponse = { request, _ in
        var response = EchoResponse()
        response.id = request.id
        response.message = request.message
        return response
    }

    private func plain(_ request: EchoRequest) -> EchoResponse {
        var response = EchoResponse()
        response.id = request.id
        response.message = request.message
        return response
    }

    func echo(_ request: EchoRequest, context: ServerContext) async throws -> EchoResponse {
        observed.record(context)
        do {
            return try await body(request, context)
        } catch is CancellationError {
            observed.recordCancellation()
            throw CancellationError()
        }
    }

    func getEcho(_ request: GetEchoRequest, context: ServerContext) async throws -> EchoResponse { EchoResponse() }
    func updateEcho(_ request: UpdateEchoRequest, context: ServerContext) async throws -> EchoResponse { EchoResponse() }
    func replaceEcho(_ request: EchoRequest, context: ServerContext) async throws -> EchoResponse { plain(request) }
    func deleteEcho(_ request: DeleteEchoRequest, context: ServerContext) async throws -> EmptyMessage { EmptyMessage() }

    func internalEcho(_ request: EchoRequest, context: ServerContext) async throws -> EchoResponse {
        observed.record(context)
        return plain(request)
    }

    func lookupThing(_ request: Souk_Test_Other_V1_Thing, context: ServerContext) async throws -> ImportedMessage {
        ImportedMessage()
    }
}

func echoRequest(_ message: String, id: String = "1") -> EchoRequest {
    var request = EchoRequest()
    request.id = id
    request.message = message
    return request
}

/// An error that is not an RPC status, with a detail that must not reach the caller.
struct SecretFailure: Error, CustomStringConvertible {
    var description: String { "database password is hunter2" }
}

/// A value shared between tasks of a test.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R {
        mutex.withLock { body(&$0) }
    }
}
