import SoukContracts
import SoukServiceKit
import SoukWire

/// What makes a new order acceptable. Every violation is reported at once, each under its
/// field's path (`items[3].quantity`), so that a client can fix them all in one go.
public enum OrderRules {
    public static let maxItems = 100
    public static let skuLength = 1...64
    public static let quantity: ClosedRange<Int32> = 1...10_000
    public static let unitPrice: ClosedRange<Int64> = 0...1_000_000_000

    /// The violations of `request`, and the order's total when there are none.
    public static func check(_ request: CreateOrderRequest) -> (violations: FieldViolations, total: Int64?) {
        var violations = FieldViolations()
        violations.currency(request.currency)
        if request.items.isEmpty {
            violations.add("items", "must hold at least one item")
        } else if request.items.count > maxItems {
            violations.add("items", "must hold at most \(maxItems) items, found \(request.items.count)")
        }
        for (index, item) in request.items.prefix(maxItems).enumerated() {
            let path = "items[\(index)]"
            if let problem = skuProblem(item.sku) { violations.add("\(path).sku", problem) }
            if !quantity.contains(item.quantity) {
                violations.add("\(path).quantity", "must be 1 to 10000, found \(item.quantity)")
            }
            if !unitPrice.contains(item.unitPrice) {
                violations.add("\(path).unit_price", "must be 0 to 1000000000 minor units, found \(item.unitPrice)")
            }
        }
        guard violations.isEmpty else { return (violations, nil) }
        // Within the limits the total cannot pass 10^15; it is still computed with overflow
        // checked, so that a change of limits can never wrap it.
        var total: Int64 = 0
        for item in request.items {
            let (line, lineOverflow) = item.unitPrice.multipliedReportingOverflow(by: Int64(item.quantity))
            let (sum, sumOverflow) = total.addingReportingOverflow(line)
            if lineOverflow || sumOverflow {
                violations.add("items", "the order's total does not fit in a 64-bit count of minor units")
                return (violations, nil)
            }
            total = sum
        }
        return (violations, total)
    }

    /// 1 to 64 characters from ASCII letters, digits, `-`, `_` and `.`.
    public static func skuProblem(_ sku: String) -> String? {
        let bytes = Array(sku.utf8)
        if bytes.isEmpty { return "is required" }
        guard skuLength.contains(bytes.count) else { return "must be at most 64 characters, found \(sku.count)" }
        let allowed = bytes.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
        return allowed ? nil : "may hold only ASCII letters, digits, '-', '_' and '.'"
    }
}
