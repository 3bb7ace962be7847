import SoukContracts
import SoukRPCCore
import TestContracts
import Testing

/// One rpc as its `.proto` file declares it.
struct DeclaredRPC: Sendable, CustomTestStringConvertible {
    let descriptor: MethodDescriptor
    let fullName: String
    let input: String
    let output: String
    let isInternal: Bool
    let isIdempotent: Bool

    var testDescription: String { fullName }
}

@Suite("Method descriptors say what the .proto files say")
struct MethodDescriptorTests {
    /// Tests/Protos/souk/test/v1/everything.proto and souk/test/other/v1/prefixed.proto.
    static let testContracts: [DeclaredRPC] = [
        .init(descriptor: EchoService.Methods.echo, fullName: "/souk.test.v1.EchoService/Echo",
              input: "souk.test.v1.EchoRequest", output: "souk.test.v1.EchoResponse", isInternal: false, isIdempotent: false),
        .init(descriptor: EchoService.Methods.getEcho, fullName: "/souk.test.v1.EchoService/GetEcho",
              input: "souk.test.v1.GetEchoRequest", output: "souk.test.v1.EchoResponse", isInternal: false, isIdempotent: true),
        .init(descriptor: EchoService.Methods.updateEcho, fullName: "/souk.test.v1.EchoService/UpdateEcho",
              input: "souk.test.v1.UpdateEchoRequest", output: "souk.test.v1.EchoResponse", isInternal: false, isIdempotent: false),
        .init(descriptor: EchoService.Methods.replaceEcho, fullName: "/souk.test.v1.EchoService/ReplaceEcho",
              input: "souk.test.v1.EchoRequest", output: "souk.test.v1.EchoResponse", isInternal: false, isIdempotent: true),
        .init(descriptor: EchoService.Methods.deleteEcho, fullName: "/souk.test.v1.EchoService/DeleteEcho",
              input: "souk.test.v1.DeleteEchoRequest", output: "souk.test.v1.EmptyMessage", isInternal: false, isIdempotent: true),
        .init(descriptor: EchoService.Methods.internalEcho, fullName: "/souk.test.v1.EchoService/InternalEcho",
              input: "souk.test.v1.EchoRequest", output: "souk.test.v1.EchoResponse", isInternal: true, isIdempotent: true),
        .init(descriptor: EchoService.Methods.lookupThing, fullName: "/souk.test.v1.EchoService/LookupThing",
              input: "souk.test.other.v1.Thing", output: "souk.test.v1.ImportedMessage", isInternal: false, isIdempotent: false),
        .init(descriptor: Souk_Test_Other_V1_ThingService.Methods.getThing, fullName: "/souk.test.other.v1.ThingService/GetThing",
              input: "souk.test.other.v1.GetThingRequest", output: "souk.test.other.v1.Thing", isInternal: false, isIdempotent: true),
        .init(descriptor: Souk_Test_Other_V1_ThingService.Methods.touchThing, fullName: "/souk.test.other.v1.ThingService/TouchThing",
              input: "souk.test.other.v1.Thing", output: "souk.test.other.v1.Thing", isInternal: false, isIdempotent: false),
    ]

    /// Protos/souk/{users,orders,payments}/v1/*.proto.
    static let soukContracts: [DeclaredRPC] = [
        .init(descriptor: UsersService.Methods.createUser, fullName: "/souk.users.v1.UsersService/CreateUser",
              input: "souk.users.v1.CreateUserRequest", output: "souk.users.v1.User", isInternal: false, isIdempotent: false),
        .init(descriptor: UsersService.Methods.authenticate, fullName: "/souk.users.v1.UsersService/Authenticate",
              input: "souk.users.v1.AuthenticateRequest", output: "souk.users.v1.AuthenticateResponse", isInternal: false, isIdempotent: false),
        .init(descriptor: UsersService.Methods.getCurrentUser, fullName: "/souk.users.v1.UsersService/GetCurrentUser",
              input: "souk.users.v1.GetCurrentUserRequest", output: "souk.users.v1.User", isInternal: false, isIdempotent: true),
        .init(descriptor: UsersService.Methods.updateProfile, fullName: "/souk.users.v1.UsersService/UpdateProfile",
              input: "souk.users.v1.UpdateProfileRequest", output: "souk.users.v1.User", isInternal: false, isIdempotent: true),
        .init(descriptor: UsersService.Methods.getUser, fullName: "/souk.users.v1.UsersService/GetUser",
              input: "souk.users.v1.GetUserRequest", output: "souk.users.v1.GetUserResponse", isInternal: true, isIdempotent: true),
        .init(descriptor: OrdersService.Methods.createOrder, fullName: "/souk.orders.v1.OrdersService/CreateOrder",
              input: "souk.orders.v1.CreateOrderRequest", output: "souk.orders.v1.Order", isInternal: false, isIdempotent: false),
        .init(descriptor: OrdersService.Methods.getOrder, fullName: "/souk.orders.v1.OrdersService/GetOrder",
              input: "souk.orders.v1.GetOrderRequest", output: "souk.orders.v1.Order", isInternal: false, isIdempotent: true),
        .init(descriptor: OrdersService.Methods.listOrders, fullName: "/souk.orders.v1.OrdersService/ListOrders",
              input: "souk.orders.v1.ListOrdersRequest", output: "souk.orders.v1.ListOrdersResponse", isInternal: false, isIdempotent: true),
        .init(descriptor: OrdersService.Methods.cancelOrder, fullName: "/souk.orders.v1.OrdersService/CancelOrder",
              input: "souk.orders.v1.CancelOrderRequest", output: "souk.orders.v1.Order", isInternal: false, isIdempotent: true),
        .init(descriptor: OrdersService.Methods.markOrderPaid, fullName: "/souk.orders.v1.OrdersService/MarkOrderPaid",
              input: "souk.orders.v1.MarkOrderPaidRequest", output: "souk.orders.v1.Order", isInternal: true, isIdempotent: true),
        .init(descriptor: OrdersService.Methods.markOrderRefunded, fullName: "/souk.orders.v1.OrdersService/MarkOrderRefunded",
              input: "souk.orders.v1.MarkOrderRefundedRequest", output: "souk.orders.v1.Order", isInternal: true, isIdempotent: true),
        .init(descriptor: PaymentsService.Methods.createPayment, fullName: "/souk.payments.v1.PaymentsService/CreatePayment",
              input: "souk.payments.v1.CreatePaymentRequest", output: "souk.payments.v1.Payment", isInternal: false, isIdempotent: true),
        .init(descriptor: PaymentsService.Methods.getPayment, fullName: "/souk.payments.v1.PaymentsService/GetPayment",
              input: "souk.payments.v1.GetPaymentRequest", output: "souk.payments.v1.Payment", isInternal: false, isIdempotent: true),
        .init(descriptor: PaymentsService.Methods.refundPayment, fullName: "/souk.payments.v1.PaymentsService/RefundPayment",
              input: "souk.payments.v1.RefundPaymentRequest", output: "souk.payments.v1.Payment", isInternal: false, isIdempotent: true),
        .init(descriptor: PaymentsService.Methods.listPaymentsForOrder, fullName: "/souk.payments.v1.PaymentsService/ListPaymentsForOrder",
              input: "souk.payments.v1.ListPaymentsForOrderRequest", output: "souk.payments.v1.ListPaymentsForOrderResponse",
              isInternal: false, isIdempotent: true),
    ]

    @Test("a test-contract rpc has its wire name, types and flags", arguments: testContracts)
    func testContractRPC(_ rpc: DeclaredRPC) {
        check(rpc)
    }

    @Test("a Souk rpc has its wire name, types and flags", arguments: soukContracts)
    func soukRPC(_ rpc: DeclaredRPC) {
        check(rpc)
    }

    func check(_ rpc: DeclaredRPC) {
        #expect(rpc.descriptor.fullName == rpc.fullName)
        #expect(rpc.descriptor.description == rpc.fullName)
        #expect(rpc.descriptor.inputType == rpc.input)
        #expect(rpc.descriptor.outputType == rpc.output)
        #expect(rpc.descriptor.isInternal == rpc.isInternal)
        #expect(rpc.descriptor.isIdempotent == rpc.isIdempotent)
    }

    @Test("each service lists every rpc of its .proto, in .proto order, under its service name")
    func servicesListTheirRPCs() {
        let services: [(name: String, all: [MethodDescriptor])] = [
            (EchoService.serviceName, EchoService.Methods.all),
            (Souk_Test_Other_V1_ThingService.serviceName, Souk_Test_Other_V1_ThingService.Methods.all),
            (UsersService.serviceName, UsersService.Methods.all),
            (OrdersService.serviceName, OrdersService.Methods.all),
            (PaymentsService.serviceName, PaymentsService.Methods.all),
        ]
        let listed = services.flatMap(\.all)
        #expect(listed == (Self.testContracts + Self.soukContracts).map(\.descriptor))
        for service in services {
            #expect(service.all.allSatisfy { $0.service == service.name })
        }
        #expect(EchoService.serviceName == "souk.test.v1.EchoService")
        #expect(UsersService.serviceName == "souk.users.v1.UsersService")
        #expect(OrdersService.serviceName == "souk.orders.v1.OrdersService")
        #expect(PaymentsService.serviceName == "souk.payments.v1.PaymentsService")
    }

    @Test("the internal rpcs are exactly the ones the contracts mark internal, and all are idempotent")
    func internalRPCs() {
        let internalRPCs = (Self.testContracts + Self.soukContracts).map(\.descriptor).filter(\.isInternal)
        #expect(internalRPCs == [EchoService.Methods.internalEcho, UsersService.Methods.getUser,
                             OrdersService.Methods.markOrderPaid, OrdersService.Methods.markOrderRefunded])
        #expect(internalRPCs.allSatisfy { $0.isIdempotent })
    }

    @Test("a descriptor made by hand defaults to public and not idempotent")
    func defaults() {
        let method = MethodDescriptor(service: "a.b.C", method: "D", inputType: "a.b.E", outputType: "a.b.F")
        #expect(method.fullName == "/a.b.C/D")
        #expect(!method.isInternal)
        #expect(!method.isIdempotent)
    }
}
