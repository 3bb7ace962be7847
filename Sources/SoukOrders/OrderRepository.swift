import Foundation
import SoukContracts
import SoukPostgres
import SoukProtobuf
import SoukServiceKit

/// An order as the orders database stores it.
struct OrderRecord: Sendable {
    var id: UUID
    var userID: UUID
    var status: Order.Status
    var currency: String
    var total: Int64
    var paidByPaymentID: UUID?
    var items: [Order.Item]
    var createdAt: Google_Protobuf_Timestamp
    var updatedAt: Google_Protobuf_Timestamp

    /// The contract's view.
    var message: Order {
        var order = Order()
        order.id = id.lowercasedText
        order.userId = userID.lowercasedText
        order.status = status
        order.currency = currency
        order.items = items
        order.total = total
        order.createdAt = createdAt
        order.updatedAt = updatedAt
        return order
    }
}

extension Order.Status {
    /// The value of the `status` columns.
    var column: String {
        switch self {
        case .pending: "pending"
        case .paid: "paid"
        case .fulfilled: "fulfilled"
        case .cancelled: "cancelled"
        case .refunded: "refunded"
        case .unspecified, .unrecognized: "unspecified"
        }
    }

    init(column: String) {
        switch column {
        case "pending": self = .pending
        case "paid": self = .paid
        case "fulfilled": self = .fulfilled
        case "cancelled": self = .cancelled
        case "refunded": self = .refunded
        default: self = .unspecified
        }
    }
}

/// One status change: the order moves from `from` to `to` only if it is in `from` (and
/// matches the conditions), and the history row is written by the same statement.
struct StatusChange: Sendable {
    var orderID: UUID
    var from: Order.Status
    var to: Order.Status
    var reason: String
    var paymentID: UUID? = nil
    /// Only the order of this user moves (public rpcs).
    var userID: UUID? = nil
    /// Only an order of this total and currency moves (MarkOrderPaid).
    var total: (amount: Int64, currency: String)? = nil
    /// Only an order paid by this payment moves (MarkOrderRefunded).
    var paidBy: UUID? = nil
}

/// The SQL of the orders service; nothing else in the service writes SQL.
struct OrderRepository: Sendable {
    let database: PostgresPool

    /// Inserts an order, its items and its creation history entry in one statement.
    func insert(id: UUID, userID: UUID, currency: String, items: [Order.Item], total: Int64) async throws -> OrderRecord {
        let rows = try await database.query("""
            WITH created AS (
                INSERT INTO orders (order_id, user_id, status, currency, total, items)
                VALUES (\(id), \(userID), 'pending', \(currency), \(total), \(Self.answerItemsJSON(items)))
                RETURNING order_id, user_id, status, currency, total, paid_by_payment_id, created_at, updated_at
            ), lines AS (
                INSERT INTO order_items (order_id, position, sku, quantity, unit_price)
                SELECT \(id), line.position, line.sku, line.quantity, line.unit_price
                FROM jsonb_to_recordset(\(Self.itemsJSON(items))::jsonb)
                    AS line(position smallint, sku text, quantity integer, unit_price bigint)
            ), history AS (
                INSERT INTO order_status_history (order_id, from_status, to_status, reason)
                VALUES (\(id), NULL, 'pending', 'created')
            )
            SELECT order_id, user_id, status, currency, total, paid_by_payment_id, created_at, updated_at FROM created
            """)
        return try Self.record(rows.first!, items: items)
    }

    /// The order `id`, with its items; only if it belongs to `userID` when that is given.
    func find(id: UUID, userID: UUID? = nil) async throws -> OrderRecord? {
        let rows = try await database.read("""
            SELECT * FROM order_answers
            WHERE order_id = \(id) AND (\(userID)::uuid IS NULL OR user_id = \(userID))
            """)
        return try rows.first.map { try Self.record($0) }
    }

    /// Up to `limit` of a user's orders, newest first, starting after `after` when given.
    func list(userID: UUID, after: PageToken?, limit: Int) async throws -> [OrderRecord] {
        let count = Int32(limit)
        let rows: PostgresRows
        if let after {
            rows = try await database.read("""
                SELECT * FROM order_answers
                WHERE user_id = \(userID) AND (created_at, order_id) < (\(after.createdAt), \(after.id))
                ORDER BY created_at DESC, order_id DESC
                LIMIT \(count)
                """)
        } else {
            rows = try await database.read("""
                SELECT * FROM order_answers
                WHERE user_id = \(userID)
                ORDER BY created_at DESC, order_id DESC
                LIMIT \(count)
                """)
        }
        return try rows.map { try Self.record($0) }
    }

    /// Applies `change` if the order is in its `from` status and meets its conditions,
    /// writing the history row in the same statement; nil when nothing moved. Two changes
    /// racing for one order serialize on its row: the second finds it moved, and does nothing.
    func apply(_ change: StatusChange) async throws -> OrderRecord? {
        let (amount, currency) = (change.total?.amount, change.total?.currency)
        let rows = try await database.query("""
            WITH changed AS (
                UPDATE orders
                SET status = \(change.to.column), updated_at = now(),
                    paid_by_payment_id = CASE WHEN \(change.to.column) = 'paid' THEN \(change.paymentID) ELSE paid_by_payment_id END
                WHERE order_id = \(change.orderID) AND status = \(change.from.column)
                  AND (\(change.userID)::uuid IS NULL OR user_id = \(change.userID))
                  AND (\(amount)::bigint IS NULL OR (total = \(amount) AND currency = \(currency)))
                  AND (\(change.paidBy)::uuid IS NULL OR paid_by_payment_id = \(change.paidBy))
                RETURNING order_id, user_id, status, currency, total, paid_by_payment_id, created_at, updated_at, items
            ), history AS (
                INSERT INTO order_status_history (order_id, from_status, to_status, reason, payment_id)
                SELECT order_id, \(change.from.column), \(change.to.column), \(change.reason), \(change.paymentID) FROM changed
            )
            SELECT * FROM changed
            """)
        return try rows.first.map { try Self.record($0) }
    }

    /// The items as a JSON array for `jsonb_to_recordset`: built by the JSON writer, so every
    /// value is escaped, and bound as one parameter.
    static func itemsJSON(_ items: [Order.Item]) -> String {
        var writer = JSONWriter()
        writer.beginArray()
        for (position, item) in items.enumerated() {
            writer.beginObject()
            writer.key("position")
            writer.value(Int32(position))
            writer.key("sku")
            writer.value(item.sku)
            writer.key("quantity")
            writer.value(item.quantity)
            writer.key("unit_price")
            writer.value(item.unitPrice)
            writer.endObject()
        }
        writer.endArray()
        return writer.string
    }

    /// The items as the answers' JSON array (`order_answers.items`): proto3 JSON of Order.Item,
    /// unitPrice as a string.
    static func answerItemsJSON(_ items: [Order.Item]) -> String {
        var writer = JSONWriter()
        writer.beginArray()
        for item in items {
            writer.beginObject()
            writer.key("sku")
            writer.value(item.sku)
            writer.key("quantity")
            writer.value(item.quantity)
            writer.key("unitPrice")
            writer.value(String(item.unitPrice))
            writer.endObject()
        }
        writer.endArray()
        return writer.string
    }

    /// A row of `orders`, its items from the `items` column (a JSON array of Order.Item) unless given.
    private static func record(_ row: PostgresRow, items: [Order.Item]? = nil) throws -> OrderRecord {
        let items = try items ?? JSONRead.array(try JSONParser.parse(row.decode("items", as: String.self)), at: .root) {
            value, path in try Order.Item(json: value, at: path)
        }
        return OrderRecord(
            id: try row.decode("order_id"), userID: try row.decode("user_id"),
            status: Order.Status(column: try row.decode("status")), currency: try row.decode("currency"),
            total: try row.decode("total"), paidByPaymentID: try row.decode("paid_by_payment_id"), items: items,
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
