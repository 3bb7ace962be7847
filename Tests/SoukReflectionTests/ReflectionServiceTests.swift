import SoukContracts
import SoukProtobuf
import SoukReflection
import SoukRPCCore
import SoukWire
import Testing

/// A hosted service with two methods, one internal, for the list.
struct FakeOrders: RPCService {
    var methods: [RPCServerMethod] {
        [OrdersService.Methods.getOrder, OrdersService.Methods.markOrderPaid].map { descriptor in
            RPCServerMethod.unary(descriptor, request: GetOrderRequest.self, response: Order.self) { _, _ in Order() }
        }
    }
}

@Suite("The reflection service: what a server hosts, and the descriptors that define it")
struct ReflectionServiceTests {
    let client = ReflectionService.Client(transport: InProcessTransport(services: [
        ReflectionServiceImplementation(services: [FakeOrders()], descriptorSets: [SoukContractDescriptors.fileDescriptorSet]),
    ]))

    @Test("ListServices: the hosted services sorted by name, reflection itself included, with each method's flags")
    func list() async throws {
        let services = try await client.listServices(ListServicesRequest()).services
        #expect(services.map(\.name) == ["souk.orders.v1.OrdersService", "souk.rpc.v1.ReflectionService"])
        let methods = services[0].methods
        #expect(methods.map(\.name) == ["GetOrder", "MarkOrderPaid"])
        #expect(methods[0].idempotent && !methods[0].internal && methods[1].internal)
        #expect(methods[0].inputType == "souk.orders.v1.GetOrderRequest" && methods[0].outputType == "souk.orders.v1.Order")
    }

    @Test("FileContainingSymbol: the defining file after its imports, readable as a pool with comments")
    func fileContainingSymbol() async throws {
        var request = FileContainingSymbolRequest()
        request.symbol = "souk.orders.v1.OrdersService.GetOrder"
        let set = try await client.fileContainingSymbol(request).fileDescriptorSet
        let pool = try DescriptorPool(fileDescriptorSets: [set])
        #expect(pool.fileNames.last == "souk/orders/v1/orders.proto")
        #expect(pool.services["souk.orders.v1.OrdersService"]?.methods.first { $0.name == "GetOrder" }?.comment != nil)
        // The protocol's own contracts are always there.
        request.symbol = "souk.rpc.v1.HealthCheckRequest"
        #expect(try await client.fileContainingSymbol(request).fileDescriptorSet.isEmpty == false)
    }

    @Test("an unknown symbol is NOT_FOUND naming the closest ones; an empty one is INVALID_ARGUMENT")
    func unknownSymbol() async throws {
        var request = FileContainingSymbolRequest()
        request.symbol = "souk.orders.v1.Ordr"
        await #expect {
            _ = try await client.fileContainingSymbol(request)
        } throws: { error in
            guard let error = error as? RPCError else { return false }
            return error.code == .notFound && error.message.contains("did you mean") && error.message.contains("souk.orders.v1.Order")
        }
        request.symbol = ""
        await #expect { _ = try await client.fileContainingSymbol(request) } throws: { ($0 as? RPCError)?.code == .invalidArgument }
    }
}
