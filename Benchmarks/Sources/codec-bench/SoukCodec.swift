import SoukContracts
import SoukProtobuf

/// The order with Souk's generated types, and the operations measured on it.
enum SoukCodec {
    static func makeOrder() -> Order {
        var order = Order()
        order.orderId = Fixture.orderId
        order.userId = Fixture.userId
        order.items = Fixture.items.map { fixture in
            var item = OrderItem()
            item.sku = fixture.sku
            item.quantity = fixture.quantity
            item.unitPrice = money(fixture.unitPriceMinor)
            item.lineTotal = money(fixture.lineTotalMinor)
            return item
        }
        order.total = money(Fixture.totalMinor)
        order.status = OrderStatus(rawValue: Fixture.status)
        order.paidByPaymentId = Fixture.paidByPaymentId
        order.refundedByRefundId = Fixture.refundedByRefundId
        order.history = Fixture.history.map { fixture in
            var change = OrderStatusChange()
            change.fromStatus = OrderStatus(rawValue: fixture.from)
            change.toStatus = OrderStatus(rawValue: fixture.to)
            change.changedAtUnixMs = fixture.atUnixMs
            change.reason = fixture.reason
            return change
        }
        order.createdAtUnixMs = Fixture.createdAtUnixMs
        order.updatedAtUnixMs = Fixture.updatedAtUnixMs
        return order
    }

    private static func money(_ amountMinor: Int64) -> Money {
        var money = Money()
        money.amountMinor = amountMinor
        money.currencyCode = Fixture.currencyCode
        return money
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
        order.items.count &+ order.history.count &+ order.orderId.utf8.count &+ Int(order.updatedAtUnixMs & 0xff)
    }
}
