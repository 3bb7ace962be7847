import SoukProtobuf
import SoukRPCCore
import Synchronization
import TestContracts

/// What the handlers of a test saw: every call's method, context and request,
/// and whether a handler's task was cancelled. Tests read it after the call.
final class Observed: Sendable {
    struct Call: Sendable {
        let method: String
        let context: ServerContext
        let request: any ProtoMessage
    }

    private let state = Mutex<(calls: [Call], cancelled: Bool)>(([], false))

    func record(_ request: any ProtoMessage, _ context: ServerContext) {
        state.withLock { $0.calls.append(Call(method: context.method.method, context: context, request: request)) }
    }

    func recordCancellation() {
        state.withLock { $0.cancelled = true }
    }

    var calls: [Call] { state.withLock { $0.calls } }
    var sawCancellation: Bool { state.withLock { $0.cancelled } }

    /// The context of the only call, or nil when there was not exactly one.
    var onlyContext: ServerContext? {
        let calls = calls
        return calls.count == 1 ? calls[0].context : nil
    }

    /// The request of the only call, as `Request`.
    func onlyRequest<Request: ProtoMessage>(as type: Request.Type) -> Request? {
        let calls = calls
        return calls.count == 1 ? calls[0].request as? Request : nil
    }
}

/// An in-process `EchoService` server for tests.
///
/// Every method records its call, runs `before` (which tests use to throw or
/// to wait) and answers with what the `.proto` comments promise. With a
/// `downstream` client, `Echo` relays the request to `InternalEcho` there, so
/// that a test can watch what a nested call carries.
struct EchoHandler: EchoService.Handler {
    var observed = Observed()
    var downstream: EchoService.Client? = nil
    var before: @Sendable (ServerContext) async throws -> Void = { _ in }

    private func enter(_ request: any ProtoMessage, _ context: ServerContext) async throws {
        observed.record(request, context)
        try await before(context)
    }

    func echo(_ request: EchoRequest, context: ServerContext) async throws -> EchoResponse {
        try await enter(request, context)
        if let downstream { return try await downstream.internalEcho(request) }
        return EchoResponse(echoing: request)
    }

    func getEcho(_ request: GetEchoRequest, context: ServerContext) async throws -> EchoResponse {
        try await enter(request, context)
        var response = EchoResponse()
        response.id = request.id
        response.itemNumber = request.itemNumber
        return response
    }

    func updateEcho(_ request: UpdateEchoRequest, context: ServerContext) async throws -> EchoResponse {
        try await enter(request, context)
        var response = EchoResponse()
        response.id = request.id
        response.message = request.payload?.message ?? ""
        response.itemNumber = request.payload?.itemNumber ?? 0
        return response
    }

    func replaceEcho(_ request: EchoRequest, context: ServerContext) async throws -> EchoResponse {
        try await enter(request, context)
        return EchoResponse(echoing: request)
    }

    func deleteEcho(_ request: DeleteEchoRequest, context: ServerContext) async throws -> EmptyMessage {
        try await enter(request, context)
        return EmptyMessage()
    }

    func internalEcho(_ request: EchoRequest, context: ServerContext) async throws -> EchoResponse {
        try await enter(request, context)
        return EchoResponse(echoing: request)
    }

    func lookupThing(_ request: Souk_Test_Other_V1_Thing, context: ServerContext) async throws -> ImportedMessage {
        try await enter(request, context)
        var answer = ImportedMessage()
        answer.label = request.id
        answer.count = Int64(request.inners.count)
        answer.kind = request.importedKind
        return answer
    }
}

/// A second service, so that a router hosts more than one.
struct ThingHandler: Souk_Test_Other_V1_ThingService.Handler {
    var observed = Observed()

    func getThing(_ request: Souk_Test_Other_V1_GetThingRequest, context: ServerContext) async throws -> Souk_Test_Other_V1_Thing {
        observed.record(request, context)
        var thing = Souk_Test_Other_V1_Thing()
        thing.id = request.id
        return thing
    }

    func touchThing(_ request: Souk_Test_Other_V1_Thing, context: ServerContext) async throws -> Souk_Test_Other_V1_Thing {
        observed.record(request, context)
        return request
    }
}

extension EchoResponse {
    init(echoing request: EchoRequest) {
        self.init()
        id = request.id
        message = request.message
        everything = request.everything
    }
}

/// Messages with many fields set, so that a round trip exercises the codec.
enum Samples {
    static let unicode = "Grüße, 世界 — 🚀 \u{10FFFF} tab\there"

    static func everything() -> Everything {
        var scalars = ScalarValues()
        scalars.doubleValue = -1.5
        scalars.int64Value = .min
        scalars.uint64Value = .max
        scalars.sint32Value = -7
        scalars.boolValue = true
        scalars.stringValue = unicode
        scalars.bytesValue = [0, 1, 0, 255, 0]

        var imported = ImportedMessage()
        imported.label = "label"
        imported.count = -42
        imported.kind = .beta

        var oneofs = OneofValues()
        oneofs.before = "before"
        oneofs.choice = .choiceImported(imported)
        oneofs.otherChoice = .otherSint32(-3)

        var maps = MapValues()
        maps.stringToString = ["a": "1", "ü": "2"]
        maps.int64ToString = [.min: "min", .max: "max"]
        maps.boolToEnum = [true: .negative, false: .large]

        var thing = Souk_Test_Other_V1_Thing()
        thing.id = "thing-1"
        thing.kind = .large

        var everything = Everything()
        everything.scalars = scalars
        everything.oneofs = oneofs
        everything.maps = maps
        everything.empty = EmptyMessage()
        everything.importedList = [imported, ImportedMessage()]
        everything.thing = thing
        everything.signedEnum = .unrecognized(12345)
        everything.deprecatedText = "still here"
        everything.fieldMaxNumber = 536_870_911
        return everything
    }

    static func echoRequest(id: String = "42", message: String = unicode) -> EchoRequest {
        var request = EchoRequest()
        request.id = id
        request.message = message
        request.everything = everything()
        return request
    }
}

/// A method no server hosts, for calls made with `transport.unary` directly.
func madeUpMethod(service: String, method: String) -> MethodDescriptor {
    MethodDescriptor(service: service, method: method,
                     inputType: EchoRequest.protoMessageName, outputType: EchoResponse.protoMessageName)
}
