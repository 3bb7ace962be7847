/// The order both codecs encode, as plain values so that each side builds the
/// same message from it. Every field of `Order`, `OrderItem`, `Money` and
/// `OrderStatusChange` is set, as for a refunded order — except the first
/// history entry's `from_status`, which the contract fixes at
/// `ORDER_STATUS_UNSPECIFIED` (0, so not on the wire).
enum Fixture {
    struct Item {
        let sku: String
        let quantity: Int32
        let unitPriceMinor: Int64
        var lineTotalMinor: Int64 { unitPriceMinor * Int64(quantity) }
    }

    struct StatusChange {
        let from: Int32
        let to: Int32
        let atUnixMs: Int64
        let reason: String
    }

    static let orderId = "ord_01J9Z3K4M5N6P7Q8R9S0T1U2V3"
    static let userId = "usr_01J9Y7W6V5T4S3R2Q1P0N9M8K7"
    static let currencyCode = "EUR"
    static let paidByPaymentId = "pay_01J9Z3M2N4P6Q8R0S2T4V6W8X0"
    static let refundedByRefundId = "ref_01J9Z4A1B3C5D7E9F1G3H5J7K9"
    /// ORDER_STATUS_REFUNDED: the only status with every id field set.
    static let status: Int32 = 5

    static let items: [Item] = (0..<10).map { (index: Int) -> Item in
        let sizes = ["S", "M", "L", "XL"]
        let number = 10_000 + index * 137
        return Item(sku: "SKU-\(number)-BLK-\(sizes[index % 4])",
                    quantity: Int32(1 + index % 4),
                    unitPriceMinor: Int64(499 + index * 1_250))
    }

    static var totalMinor: Int64 { items.reduce(0) { $0 + $1.lineTotalMinor } }

    static let createdAtUnixMs: Int64 = 1_763_640_000_000
    static let history: [StatusChange] = [
        StatusChange(from: 0, to: 1, atUnixMs: createdAtUnixMs, reason: "created"),
        StatusChange(from: 1, to: 2, atUnixMs: createdAtUnixMs + 94_312,
                     reason: "paid by payment \(paidByPaymentId)"),
        StatusChange(from: 2, to: 5, atUnixMs: createdAtUnixMs + 3 * 86_400_000 + 7_211,
                     reason: "refunded by refund \(refundedByRefundId)"),
    ]
    static var updatedAtUnixMs: Int64 { history.last!.atUnixMs }
}
