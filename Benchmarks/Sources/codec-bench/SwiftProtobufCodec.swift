import SwiftProtobuf
import SwiftProtobufOrder

/// The order with swift-protobuf's generated types, and the operations measured on it.
enum SwiftProtobufCodec {
    static func makeOrder() -> Order {
        var order = Order()
        order.orderID = Fixture.orderId
        order.userID = Fixture.userId
        order.items = Fixture.items.map { fixture in
            var item = OrderItem()
            item.sku = fixture.sku
            item.quantity = fixture.quantity
            item.unitPrice = money(fixture.unitPriceMinor)
            item.lineTotal = money(fixture.lineTotalMinor)
            return item
        }
        order.total = money(Fixture.totalMinor)
        order.status = OrderStatus(rawValue: Int(Fixture.status))!
        order.paidByPaymentID = Fixture.paidByPaymentId
        order.refundedByRefundID = Fixture.refundedByRefundId
        order.history = Fixture.history.map { fixture in
            var change = OrderStatusChange()
            change.fromStatus = OrderStatus(rawValue: Int(fixture.from))!
            change.toStatus = OrderStatus(rawValue: Int(fixture.to))!
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
        order.items.count &+ order.history.count &+ order.orderID.utf8.count &+ Int(order.updatedAtUnixMs & 0xff)
    }
}
