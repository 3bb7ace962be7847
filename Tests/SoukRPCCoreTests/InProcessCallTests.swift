import SoukProtobuf
import SoukRPCCore
import TestContracts
import Testing

@Suite("Calls through a generated client and the in-process transport")
struct InProcessCallTests {
    let observed = Observed()

    func client(_ handler: EchoHandler) -> EchoService.Client {
        EchoService.Client(transport: InProcessTransport(services: [handler]))
    }

    var echo: EchoService.Client { client(EchoHandler(observed: observed)) }

    // MARK: Round trips

    @Test("Echo sends the request through the binary codec and brings back the answer")
    func echoRoundTrip() async throws {
        let request = Samples.echoRequest()
        let response = try await echo.echo(request)
        #expect(response == EchoResponse(echoing: request))
        #expect(observed.onlyRequest(as: EchoRequest.self) == request)
        #expect(observed.onlyContext?.method == EchoService.Methods.echo)
        #expect(observed.onlyContext?.peer == "in-process")
    }

    @Test("metadata that breaks the protocol's rules is INVALID_ARGUMENT in process too, and reaches no handler")
    func invalidMetadata() async throws {
        var metadata = Metadata()
        metadata.append("x-note", "two\nlines")
        await #expect(throws: RPCError.self) {
            do {
                _ = try await echo.echo(Samples.echoRequest(), options: CallOptions(metadata: metadata))
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("x-note"))
                throw error
            }
        }
        #expect(observed.onlyContext == nil)
    }

    @Test("GetEcho delivers path, query and repeated fields to the handler")
    func getEchoRoundTrip() async throws {
        var request = GetEchoRequest()
        request.id = "a/b"
        request.itemNumber = .min
        request.verbose = true
        request.tags = ["x", "", "ü"]
        request.mode = .negative
        let response = try await echo.getEcho(request)
        #expect(response.id == "a/b")
        #expect(response.itemNumber == .min)
        #expect(response.message.isEmpty)
        #expect(observed.onlyRequest(as: GetEchoRequest.self) == request)
    }

    @Test("UpdateEcho delivers the single-field body to the handler")
    func updateEchoRoundTrip() async throws {
        var payload = EchoPayload()
        payload.message = "patched"
        payload.itemNumber = 9_007_199_254_740_993
        var request = UpdateEchoRequest()
        request.id = "7"
        request.payload = payload
        let response = try await echo.updateEcho(request)
        #expect(response.id == "7")
        #expect(response.message == "patched")
        #expect(response.itemNumber == 9_007_199_254_740_993)
        #expect(observed.onlyRequest(as: UpdateEchoRequest.self) == request)
    }

    @Test("ReplaceEcho and InternalEcho echo the whole request")
    func replaceAndInternalEcho() async throws {
        let request = Samples.echoRequest(id: "r")
        #expect(try await echo.replaceEcho(request) == EchoResponse(echoing: request))
        #expect(try await echo.internalEcho(request) == EchoResponse(echoing: request))
        #expect(observed.calls.map(\.method) == ["ReplaceEcho", "InternalEcho"])
    }

    @Test("DeleteEcho answers with an empty message")
    func deleteEcho() async throws {
        var request = DeleteEchoRequest()
        request.id = "gone"
        #expect(try await echo.deleteEcho(request) == EmptyMessage())
        #expect(observed.onlyRequest(as: DeleteEchoRequest.self) == request)
    }

    @Test("LookupThing carries a message of another package and answers with one of another file")
    func lookupThing() async throws {
        var inner = Souk_Test_Other_V1_Thing.Inner()
        inner.value = -1
        inner.state = .on
        var thing = Souk_Test_Other_V1_Thing()
        thing.id = "t"
        thing.inners = [inner, inner]
        thing.innerByName = ["first": inner]
        thing.importedKind = .alpha
        let answer = try await echo.lookupThing(thing)
        #expect(answer.label == "t")
        #expect(answer.count == 2)
        #expect(answer.kind == .alpha)
        #expect(observed.onlyRequest(as: Souk_Test_Other_V1_Thing.self) == thing)
    }

    @Test("an empty request reaches the handler as a message with every field at its default")
    func emptyRequest() async throws {
        #expect(try await echo.echo(EchoRequest()) == EchoResponse())
        #expect(observed.onlyRequest(as: EchoRequest.self) == EchoRequest())
    }

    // MARK: Metadata

    @Test("the metadata a client sends reaches the handler in context.metadata")
    func metadataReachesHandler() async throws {
        var metadata = Metadata(["Authorization": "Bearer t0k3n", "x-request-id": "req-1"])
        metadata.append("trace-bin", binary: [0, 1, 255])
        metadata.append("x-tag", "first")
        metadata.append("x-tag", "second")
        _ = try await echo.echo(EchoRequest(), options: CallOptions(metadata: metadata))
        let received = try #require(observed.onlyContext?.metadata)
        #expect(received == metadata)
        #expect(received["authorization"] == "Bearer t0k3n")
        #expect(received.values(for: "trace-bin") == [.binary([0, 1, 255])])
        #expect(received.values(for: "x-tag") == [.text("first"), .text("second")])
    }

    @Test("a call made outside any handler sends only its own metadata and has no deadline")
    func topLevelCallHasNoInheritance() async throws {
        _ = try await echo.echo(EchoRequest())
        let context = try #require(observed.onlyContext)
        #expect(context.metadata.isEmpty)
        #expect(context.deadline == nil)
    }

    // MARK: Errors

    @Test("an RPCError thrown by a handler reaches the client with its code, message, details and metadata")
    func handlerRPCErrorReachesClient() async throws {
        let thrown = RPCError(.failedPrecondition, "order o-1 is not pending",
                              details: [0x0A, 0x03, 0x00, 0xFF, 0x7F],
                              metadata: Metadata(["retry-after": "3"]))
        let client = client(EchoHandler(observed: observed) { _ in throw thrown })
        let error = try await #require(throws: RPCError.self) { try await client.echo(EchoRequest()) }
        #expect(error == thrown)
        #expect(error.code == .failedPrecondition)
        #expect(error.message == "order o-1 is not pending")
        #expect(error.details == [0x0A, 0x03, 0x00, 0xFF, 0x7F])
    }

    @Test("every status code a handler throws reaches the client unchanged",
          arguments: RPCStatusCode.allCases.filter { $0 != .ok })
    func everyCodeReachesClient(code: RPCStatusCode) async throws {
        let client = client(EchoHandler { _ in throw RPCError(code, "because \(code.name)") })
        let error = try await #require(throws: RPCError.self) { try await client.deleteEcho(DeleteEchoRequest()) }
        #expect(error.code == code)
        #expect(error.message == "because \(code.name)")
    }

    struct DatabaseFailure: Error, CustomStringConvertible {
        var description: String { "connection to postgres://admin:hunter2@db.internal:5432 refused" }
    }

    @Test("any other error a handler throws becomes INTERNAL with a generic message that hides it")
    func otherErrorsBecomeInternal() async throws {
        let client = client(EchoHandler(observed: observed) { _ in throw DatabaseFailure() })
        let error = try await #require(throws: RPCError.self) { try await client.echo(EchoRequest()) }
        #expect(error.code == .internal)
        #expect(!error.message.isEmpty)
        for secret in ["hunter2", "postgres", "db.internal", "DatabaseFailure", "refused"] {
            #expect(!error.message.contains(secret))
            #expect(!String(describing: error).contains(secret))
        }
        #expect(error.details.isEmpty)
        #expect(error.metadata.isEmpty)
    }

    @Test("a handler that throws CancellationError ends the call with CANCELLED")
    func handlerCancellationIsCancelled() async throws {
        let client = client(EchoHandler { _ in throw CancellationError() })
        let error = try await #require(throws: RPCError.self) { try await client.echo(EchoRequest()) }
        #expect(error.code == .cancelled)
    }

    // MARK: Unknown methods

    @Test("a call to an unknown service ends with UNIMPLEMENTED naming it")
    func unknownService() async throws {
        let transport = InProcessTransport(services: [EchoHandler(observed: observed)])
        let method = madeUpMethod(service: "souk.test.v1.ShoutService", method: "Echo")
        let error = try await #require(throws: RPCError.self) {
            try await transport.unary(EchoRequest(), method: method, options: .defaults, responseType: EchoResponse.self)
        }
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("souk.test.v1.ShoutService"))
        #expect(observed.calls.isEmpty)
    }

    @Test("a call to an unknown method of a known service ends with UNIMPLEMENTED naming both")
    func unknownMethod() async throws {
        let transport = InProcessTransport(services: [EchoHandler(observed: observed)])
        let method = madeUpMethod(service: EchoService.serviceName, method: "Shout")
        let error = try await #require(throws: RPCError.self) {
            try await transport.unary(EchoRequest(), method: method, options: .defaults, responseType: EchoResponse.self)
        }
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("Shout"))
        #expect(error.message.contains("souk.test.v1.EchoService"))
        #expect(observed.calls.isEmpty)
    }

    @Test("a method name is case-sensitive: echo is not Echo")
    func methodNamesAreCaseSensitive() async throws {
        let transport = InProcessTransport(services: [EchoHandler()])
        let method = madeUpMethod(service: EchoService.serviceName, method: "echo")
        let error = try await #require(throws: RPCError.self) {
            try await transport.unary(EchoRequest(), method: method, options: .defaults, responseType: EchoResponse.self)
        }
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("echo"))
    }

    @Test("a malformed method name ends with UNIMPLEMENTED quoting it",
          arguments: [("", "Echo"), ("souk.test.v1.EchoService", ""), ("souk.test.v1/EchoService", "Echo"), ("", "")])
    func malformedMethodName(service: String, method: String) async throws {
        let transport = InProcessTransport(services: [EchoHandler(observed: observed)])
        let descriptor = madeUpMethod(service: service, method: method)
        let error = try await #require(throws: RPCError.self) {
            try await transport.unary(EchoRequest(), method: descriptor, options: .defaults, responseType: EchoResponse.self)
        }
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("malformed"))
        #expect(error.message.contains("\"\(descriptor.fullName)\""))
        #expect(observed.calls.isEmpty)
    }

    @Test("a transport with no services answers every call with UNIMPLEMENTED")
    func emptyTransport() async throws {
        let client = EchoService.Client(transport: InProcessTransport(services: []))
        let error = try await #require(throws: RPCError.self) { try await client.echo(EchoRequest()) }
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("souk.test.v1.EchoService"))
    }

    // MARK: Strings protobuf-c cannot carry

    @Test("a request whose string holds U+0000 fails on the client with INVALID_ARGUMENT naming the field")
    func nulInRequestString() async throws {
        let request = Samples.echoRequest(message: "before\u{0}after")
        let error = try await #require(throws: RPCError.self) { try await echo.echo(request) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("souk.test.v1.EchoRequest.message"))
        #expect(error.message.contains("U+0000"))
        #expect(observed.calls.isEmpty)
    }

    @Test("a U+0000 in a nested message's string is INVALID_ARGUMENT naming that field")
    func nulInNestedString() async throws {
        var request = Samples.echoRequest()
        request.everything?.scalars?.stringValue = "\u{0}"
        let error = try await #require(throws: RPCError.self) { try await echo.replaceEcho(request) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("souk.test.v1.ScalarValues.string_value"))
        #expect(observed.calls.isEmpty)
    }

    @Test("a response whose string holds U+0000 ends the call with INTERNAL")
    func nulInResponseString() async throws {
        struct NULHandler: Souk_Test_Other_V1_ThingService.Handler {
            func getThing(_ request: Souk_Test_Other_V1_GetThingRequest, context: ServerContext) async throws -> Souk_Test_Other_V1_Thing {
                var thing = Souk_Test_Other_V1_Thing()
                thing.id = "nul\u{0}"
                return thing
            }
            func touchThing(_ request: Souk_Test_Other_V1_Thing, context: ServerContext) async throws -> Souk_Test_Other_V1_Thing {
                request
            }
        }
        let client = Souk_Test_Other_V1_ThingService.Client(transport: InProcessTransport(services: [NULHandler()]))
        let error = try await #require(throws: RPCError.self) {
            try await client.getThing(Souk_Test_Other_V1_GetThingRequest())
        }
        #expect(error.code == .internal)
    }
}
