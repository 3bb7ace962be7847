import SwiftProtobuf
import SwiftProtobufOrder

/// The order with swift-protobuf's generated types, and the operations measured on it.
enum SwiftProtobufCodec {
    static func makeOrder() -> Order {
        var order = Order()
        order.id = Fixture.orderId
        order.userID = Fixture.userId
        order.status = Order.Status(rawValue: Int(Fixture.status))!
        order.currency = Fixture.currency
        order.items = Fixture.items.map { fixture in
            var item = Order.Item()
            item.sku = fixture.sku
            item.quantity = fixture.quantity
            item.unitPrice = fixture.unitPriceMinor
            return item
        }
        order.total = Fixture.totalMinor
        order.createdAt = Google_Protobuf_Timestamp(seconds: Fixture.createdAt.seconds, nanos: Fixture.createdAt.nanos)
        order.updatedAt = Google_Protobuf_Timestamp(seconds: Fixture.updatedAt.seconds, nanos: Fixture.updatedAt.nanos)
        return order
    }

    @inline(never)
    static func encode(_ order: Order) throws -> [UInt8] {
        try order.serializedBytes()
    }

    @inline(never)
    static func decode(_ bytes: [UInt8]) throws -> Order {
        try Order(serializedBytes: bytes)
    }

    /// Whether decoding `bytes` throws.
    static func rejects(_ bytes: [UInt8]) -> Bool {
        (try? Order(serializedBytes: bytes)) == nil
    }

    /// A number that depends on the decoded message, so no decode can be skipped.
    static func checksum(_ order: Order) -> Int {
        order.items.count &+ order.id.utf8.count &+ Int(truncatingIfNeeded: order.updatedAt.nanos)
    }
}
