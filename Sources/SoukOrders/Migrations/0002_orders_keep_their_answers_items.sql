-- An order's lines never change once it is created, and every answer carries them: the
-- order row keeps them as the JSON array the answers use, written with the order, so that
-- GetOrder, ListOrders and each status change read one row instead of aggregating the
-- lines of order_items (which stays the relational record of the lines).
ALTER TABLE orders ADD COLUMN items text;

UPDATE orders o
SET items = (SELECT COALESCE(json_agg(json_build_object('sku', i.sku, 'quantity', i.quantity, 'unitPrice', i.unit_price::text)
                                      ORDER BY i.position), '[]')::text
             FROM order_items i WHERE i.order_id = o.order_id);

ALTER TABLE orders ALTER COLUMN items SET NOT NULL;

-- The same columns as before, now read from the row alone.
CREATE OR REPLACE VIEW order_answers AS
SELECT order_id, user_id, status, currency, total, paid_by_payment_id, created_at, updated_at, items
FROM orders;
