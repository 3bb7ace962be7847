import SoukContracts
import SoukProtobuf
@testable import SoukReflection
import SoukWire
import TestContracts
import Testing

@Suite("The descriptor pool: the contracts as their descriptors describe them")
struct DescriptorPoolTests {
    static let pool = try! DescriptorPool(fileDescriptorSets: [SoukWireDescriptors.fileDescriptorSet,
                                                               SoukContractDescriptors.fileDescriptorSet])

    @Test("every generated message type of Protos/ has a description, nested ones and map entries included")
    func everyMessage() {
        for type in SoukContractMessages.all + SoukWireMessages.all {
            #expect(Self.pool.messages[type.protoMessageName] != nil, "\(type.protoMessageName)")
        }
        let item = Self.pool.messages["souk.orders.v1.Order.Item"]
        #expect(item?.fields.map(\.name) == ["sku", "quantity", "unit_price"])
        #expect(item?.field(named: "unitPrice")?.number == 3 && item?.field(named: "unit_price")?.jsonName == "unitPrice")
    }

    @Test("services and methods carry the contract's flags and comments")
    func services() throws {
        let orders = try #require(Self.pool.services["souk.orders.v1.OrdersService"])
        let markPaid = try #require(orders.methods.first { $0.name == "MarkOrderPaid" })
        #expect(markPaid.isInternal && markPaid.inputType == "souk.orders.v1.MarkOrderPaidRequest")
        #expect(orders.methods.first { $0.name == "GetOrder" }?.isIdempotent == true)
        #expect(orders.methods.first { $0.name == "CreateOrder" }?.isInternal == false)
        #expect(Self.pool.messages["souk.users.v1.User"]?.field(named: "email")?.comment?.isEmpty == false)
        #expect(Self.pool.enums["souk.orders.v1.Order.Status"]?.number(of: "PAID") == 2)
    }

    @Test("a symbol's file: messages, nested types, fields, methods, enum values; its set lists imports first")
    func symbols() throws {
        for symbol in ["souk.orders.v1.Order", "souk.orders.v1.Order.Item", "souk.orders.v1.Order.total",
                       "souk.orders.v1.OrdersService.GetOrder", "souk.orders.v1.OrdersService", ".souk.orders.v1.Order.PAID"] {
            #expect(Self.pool.file(containing: symbol) == "souk/orders/v1/orders.proto", "\(symbol)")
        }
        #expect(Self.pool.file(containing: "souk.orders.v1.Nothing") == nil)
        let set = Self.pool.fileDescriptorSet(of: "souk/orders/v1/orders.proto")
        let reread = try DescriptorPool(fileDescriptorSets: [set])
        let order = reread.fileNames
        #expect(order.last == "souk/orders/v1/orders.proto")
        #expect(order.contains("google/protobuf/timestamp.proto") && order.contains("souk/api/v1/annotations.proto"))
        #expect(order.firstIndex(of: "google/protobuf/descriptor.proto")! < order.firstIndex(of: "souk/api/v1/annotations.proto")!)
    }

    @Test("near names, for did-you-mean")
    func nearNames() {
        #expect(Self.pool.names(near: "souk.orders.v1.OrderService").contains("souk.orders.v1.OrdersService"))
        #expect(Self.pool.names(near: "GetOrdr", among: ["GetOrder", "ListOrders", "CancelOrder"]).first == "GetOrder")
    }
}

@Suite("The descriptor-driven codec agrees with the generated types")
struct DynamicCodecTests {
    static let codec = DynamicCodec(pool: try! DescriptorPool(fileDescriptorSets: [
        SoukWireDescriptors.fileDescriptorSet, SoukContractDescriptors.fileDescriptorSet, TestContractDescriptors.fileDescriptorSet,
    ]))

    /// Decodes `json` with the generated `type` and with the codec, and checks both ways agree byte for byte.
    func agree<M: ProtoMessage>(_ type: M.Type, _ json: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let value = try JSONParser.parse(json)
        let generated = try M(json: value, at: .root)
        let generatedBytes = try generated.serializedBytes()
        let dynamic = try Self.codec.decode(json: value, as: M.protoMessageName)
        #expect(try Self.codec.encode(dynamic) == generatedBytes, "binary from JSON", sourceLocation: sourceLocation)
        let reread = try Self.codec.decode(generatedBytes, as: M.protoMessageName)
        #expect(try Self.codec.encode(reread) == generatedBytes, "binary round trip", sourceLocation: sourceLocation)
        for options in [JSONEncodingOptions(), JSONEncodingOptions(emitUnpopulated: true), JSONEncodingOptions(useProtoFieldNames: true)] {
            var writer = JSONWriter(options: options)
            generated.encodeJSON(to: &writer)
            #expect(try Self.codec.encodeJSON(reread, options: options) == writer.string, "JSON", sourceLocation: sourceLocation)
        }
    }

    @Test("orders: nested messages, enums, int64 as strings, timestamps")
    func orders() throws {
        try agree(Order.self, #"{"id":"o-1","userId":"u","status":"PAID","currency":"EUR","items":[{"sku":"a","quantity":2,"unitPrice":"450"},{"sku":"b","quantity":1,"unitPrice":"-3"}],"total":"897","createdAt":"2026-12-02T01:30:00.123Z"}"#)
        try agree(Order.self, #"{"status":7}"#)
        try agree(Order.self, "{}")
    }

    @Test("every generated type of Protos/ and Tests/Protos/ at its defaults")
    func defaults() throws {
        for type in SoukContractMessages.all + SoukWireMessages.all + TestContractMessages.all {
            let bytes = try type.init().serializedBytes()
            let dynamic = try Self.codec.decode(bytes, as: type.protoMessageName)
            #expect(try Self.codec.encode(dynamic) == bytes, "\(type.protoMessageName)")
            var writer = JSONWriter(options: JSONEncodingOptions(emitUnpopulated: true))
            type.init().encodeJSON(to: &writer)
            #expect(try Self.codec.encodeJSON(dynamic, options: JSONEncodingOptions(emitUnpopulated: true)) == writer.string,
                    "\(type.protoMessageName)")
        }
    }

    @Test("maps are written in key order, by the generated types too")
    func maps() throws {
        try agree(MapValues.self, #"{"stringToInt32":{"b":2,"a":1,"c":3,"":0},"stringToInt64":{"x":"9"},"stringToBool":{"t":true,"f":false}}"#)
    }

    @Test("a wrong type, an unknown member or an unknown enum name is refused naming its path")
    func refusals() throws {
        let cases = [
            (#"{"items":[{"quantity":"many"}]}"#, "items[0].quantity"),
            (#"{"items":[{"colour":"red"}]}"#, "colour"),
            (#"{"status":"LOST"}"#, "status"),
        ]
        for (json, path) in cases {
            do {
                _ = try Self.codec.decode(json: try JSONParser.parse(json), as: "souk.orders.v1.Order")
                Issue.record("\(json) was accepted")
            } catch let error as ProtoJSONError {
                #expect("\(error)".contains(path), "\(error)")
            }
        }
    }
}
