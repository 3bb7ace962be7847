import SoukContracts
import SoukProtobuf

/// The order with Souk's generated types, and the operations measured on it.
enum SoukCodec {
    static func makeOrder() -> Order {
        var order = Order()
        order.id = Fixture.orderId
        order.userId = Fixture.userId
        order.status = Order.Status(rawValue: Fixture.status)
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

    /// Packs into memory the caller keeps across calls: no Array is made.
    @inline(never)
    static func encode(_ order: Order, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try order.withPacker { size, pack in
            precondition(size <= buffer.count, "the reused buffer is too small for the order")
            return pack(buffer.baseAddress!)
        }
    }

    @inline(never)
    static func decode(_ bytes: [UInt8]) throws -> Order {
        try Order(serializedBytes: bytes)
    }

    /// The kind of error decoding `bytes` throws, nil when it decodes.
    static func decodingError(_ bytes: [UInt8]) -> ProtoBinaryError.Kind? {
        do {
            _ = try Order(serializedBytes: bytes)
            return nil
        } catch let error as ProtoBinaryError {
            return error.kind
        } catch {
            return .malformed
        }
    }

    /// A number that depends on the decoded message, so no decode can be skipped.
    static func checksum(_ order: Order) -> Int {
        order.items.count &+ order.id.utf8.count &+ Int(truncatingIfNeeded: order.updatedAt?.nanos ?? 0)
    }
}
