import Foundation
import SoukOrders
import SoukPostgres
import SoukTestSupport
import Testing

@Suite("The orders database's migrations keep what is there")
struct OrderMigrationTests {
    @Test("0002 gives every existing order its items, as the answers read them, in their order")
    func itemsBackfill() async throws {
        guard let baseURL = TestSchema.baseURL else {
            Issue.record(Comment(rawValue: TestSchema.missingDatabase))
            return
        }
        let all = try OrdersServiceHandler.migrations()
        try await TestSchema.with(prefix: "orders", migrations: Array(all.prefix(1)), baseURL: baseURL) { pool, _ in
            let (order, empty, user) = (UUID(), UUID(), UUID())
            _ = try await pool.execute("""
                INSERT INTO orders (order_id, user_id, status, currency, total)
                VALUES (\(order), \(user), 'pending', 'EUR', 4248), (\(empty), \(user), 'pending', 'EUR', 0)
                """)
            _ = try await pool.execute("""
                INSERT INTO order_items (order_id, position, sku, quantity, unit_price)
                VALUES (\(order), 1, 'PEN', 1, 250), (\(order), 0, 'BOOK-1', 2, 1999)
                """)
            _ = try await Migrator(pool: pool, migrations: all, logger: TestSchema.logger).up()
            let expected = #"[{"sku": "BOOK-1", "quantity": 2, "unitPrice": "1999"}, {"sku": "PEN", "quantity": 1, "unitPrice": "250"}]"#
            let same = try await pool.query("""
                SELECT (SELECT items::jsonb FROM order_answers WHERE order_id = \(order)) = \(expected)::jsonb,
                       (SELECT items FROM order_answers WHERE order_id = \(empty))
                """)
            #expect(try same[0].decode(0, as: Bool.self))
            #expect(try same[0].decode(1, as: String.self) == "[]")
        }
    }
}
