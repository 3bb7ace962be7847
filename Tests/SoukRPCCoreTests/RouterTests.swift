import SoukProtobuf
import SoukRPCCore
import TestContracts
import Testing

@Suite("The router")
struct RouterTests {
    @Test("a router hosting two services serves the methods of both")
    func twoServices() async throws {
        let echo = EchoHandler()
        let thing = ThingHandler()
        let transport = InProcessTransport(services: [echo, thing])

        var request = Souk_Test_Other_V1_GetThingRequest()
        request.id = "t-1"
        let found = try await Souk_Test_Other_V1_ThingService.Client(transport: transport).getThing(request)
        #expect(found.id == "t-1")
        _ = try await EchoService.Client(transport: transport).deleteEcho(DeleteEchoRequest())

        #expect(thing.observed.calls.map(\.method) == ["GetThing"])
        #expect(echo.observed.calls.map(\.method) == ["DeleteEcho"])
    }

    @Test("methods lists every registered method once, sorted by full name")
    func methodsSorted() {
        let router = RPCRouter(services: [EchoHandler(), ThingHandler()])
        let names = router.methods.map(\.descriptor.fullName)
        let expected = (EchoService.Methods.all + Souk_Test_Other_V1_ThingService.Methods.all).map(\.fullName).sorted()
        #expect(names == expected)
        #expect(names.count == 9)
        #expect(names.first == "/souk.test.other.v1.ThingService/GetThing")
        #expect(names.last == "/souk.test.v1.EchoService/UpdateEcho")
    }

    @Test("the methods of a generated handler are its descriptors, in .proto order")
    func handlerMethods() {
        #expect(EchoHandler().methods.map(\.descriptor) == EchoService.Methods.all)
        #expect(ThingHandler().methods.map(\.descriptor) == Souk_Test_Other_V1_ThingService.Methods.all)
    }

    @Test("each method decodes requests of its own input type")
    func requestTypes() {
        let router = RPCRouter(services: [EchoHandler(), ThingHandler()])
        for method in router.methods {
            #expect(method.requestType.protoMessageName == method.descriptor.inputType)
        }
    }

    @Test("an empty router has no methods")
    func emptyRouter() {
        #expect(RPCRouter().methods.isEmpty)
        #expect(RPCRouter(services: []).methods.isEmpty)
    }

    @Test("registering a service again replaces the earlier registration")
    func reRegistrationReplaces() async throws {
        let first = EchoHandler()
        let second = EchoHandler()
        var router = RPCRouter()
        router.register(first)
        router.register(second)
        #expect(router.methods.count == EchoService.Methods.all.count)

        _ = try await EchoService.Client(transport: InProcessTransport(router: router)).echo(EchoRequest())
        #expect(first.observed.calls.isEmpty)
        #expect(second.observed.calls.map(\.method) == ["Echo"])
    }

    @Test("registering one service does not disturb the others")
    func registrationKeepsOthers() async throws {
        let thing = ThingHandler()
        var router = RPCRouter(services: [thing])
        router.register(EchoHandler())
        router.register(EchoHandler())
        _ = try await Souk_Test_Other_V1_ThingService.Client(transport: InProcessTransport(router: router))
            .touchThing(Souk_Test_Other_V1_Thing())
        #expect(thing.observed.calls.map(\.method) == ["TouchThing"])
        #expect(router.methods.count == 9)
    }

    @Test("the router finds a method by its full name and names what is missing")
    func lookup() throws {
        let router = RPCRouter(services: [EchoHandler()])
        #expect(try router.method(named: "/souk.test.v1.EchoService/GetEcho").descriptor == EchoService.Methods.getEcho)
        let unknownService = try #require(throws: RPCError.self) { try router.method(named: "/souk.test.v1.Nope/GetEcho") }
        #expect(unknownService == RPCError(.unimplemented, "unknown service souk.test.v1.Nope"))
        let unknownMethod = try #require(throws: RPCError.self) { try router.method(named: "/souk.test.v1.EchoService/Nope") }
        #expect(unknownMethod == RPCError(.unimplemented, "unknown method Nope of service souk.test.v1.EchoService"))
        let malformed = try #require(throws: RPCError.self) { try router.method(named: "souk.test.v1.EchoService.Echo") }
        #expect(malformed.code == .unimplemented)
        #expect(malformed.message.contains("\"souk.test.v1.EchoService.Echo\""))
    }

    @Test("a request whose bytes are not a valid request is INVALID_ARGUMENT naming the method")
    func undecodableRequest() throws {
        let method = try RPCRouter(services: [EchoHandler()]).method(named: EchoService.Methods.echo.fullName)
        let bytes: [UInt8] = [0x0A, 0x05, 0x61]  // field 1, length 5, but one byte follows
        let error = try #require(throws: RPCError.self) {
            try bytes.withUnsafeBytes { buffer in _ = try method.decodeRequest(buffer) }
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("/souk.test.v1.EchoService/Echo"))
    }

    @Test("serving a method sets ServerContext.current for the handler's task only")
    func currentContext() async throws {
        let seen = Observed()
        struct Probe: Souk_Test_Other_V1_ThingService.Handler {
            let seen: Observed
            func getThing(_ request: Souk_Test_Other_V1_GetThingRequest, context: ServerContext) async throws -> Souk_Test_Other_V1_Thing {
                seen.record(request, try #require(ServerContext.current))
                return Souk_Test_Other_V1_Thing()
            }
            func touchThing(_ request: Souk_Test_Other_V1_Thing, context: ServerContext) async throws -> Souk_Test_Other_V1_Thing {
                request
            }
        }
        let client = Souk_Test_Other_V1_ThingService.Client(transport: InProcessTransport(services: [Probe(seen: seen)]))
        _ = try await client.getThing(Souk_Test_Other_V1_GetThingRequest(), options: CallOptions(metadata: Metadata(["k": "v"])))
        #expect(seen.onlyContext?.method == Souk_Test_Other_V1_ThingService.Methods.getThing)
        #expect(seen.onlyContext?.metadata["k"] == "v")
        #expect(ServerContext.current == nil)
    }
}
