/// The order both codecs encode, as plain values so that each side builds the
/// same message from it. Every field of `Order` and `Order.Item` is set, both
/// Timestamps with nanoseconds, as for a paid order of ten lines.
enum Fixture {
    struct Item {
        let sku: String
        let quantity: Int32
        let unitPriceMinor: Int64
    }

    static let orderId = "0b6d1f9e-3c2a-4e8b-9f57-6a1d2c3e4f50"
    static let userId = "7e4c2a1b-9d8f-4b6a-8c3e-2f1a0b9c8d7e"
    static let currency = "EUR"
    /// PAID.
    static let status: Int32 = 2

    static let items: [Item] = (0..<10).map { (index: Int) -> Item in
        let sizes = ["S", "M", "L", "XL"]
        let number = 10_000 + index * 137
        return Item(sku: "SKU-\(number)-BLK-\(sizes[index % 4])",
                    quantity: Int32(1 + index % 4),
                    unitPriceMinor: Int64(499 + index * 1_250))
    }

    static var totalMinor: Int64 { items.reduce(0) { $0 + $1.unitPriceMinor * Int64($1.quantity) } }

    static let createdAt: (seconds: Int64, nanos: Int32) = (1_763_640_000, 123_456_000)
    static let updatedAt: (seconds: Int64, nanos: Int32) = (1_763_640_094, 312_000_000)
}
