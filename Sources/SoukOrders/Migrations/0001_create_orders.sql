-- Orders, their lines and their status history. Money is bigint minor units of the
-- order's currency, never floating point. Every status change writes a history row in
-- the same transaction (OrderRepository.changeStatus).
CREATE TABLE orders (
    order_id           uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('pending', 'paid', 'fulfilled', 'cancelled', 'refunded')),
    currency           text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total              bigint      NOT NULL CHECK (total >= 0),
    -- The payment that paid the order; set with the move to 'paid' and kept after it.
    paid_by_payment_id uuid        CHECK ((status IN ('pending', 'cancelled')) = (paid_by_payment_id IS NULL)),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- ListOrders: a user's orders, newest first, by keyset (created_at, order_id).
CREATE INDEX orders_user_newest ON orders (user_id, created_at DESC, order_id DESC);

CREATE TABLE order_items (
    order_id   uuid     NOT NULL REFERENCES orders ON DELETE CASCADE,
    position   smallint NOT NULL CHECK (position >= 0),
    sku        text     NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    quantity   integer  NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price bigint   NOT NULL CHECK (unit_price BETWEEN 0 AND 1000000000),
    PRIMARY KEY (order_id, position)
);

CREATE TABLE order_status_history (
    history_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid        NOT NULL REFERENCES orders ON DELETE CASCADE,
    -- NULL for the creation entry.
    from_status text        CHECK (from_status IN ('pending', 'paid', 'fulfilled', 'cancelled', 'refunded')),
    to_status   text        NOT NULL CHECK (to_status IN ('pending', 'paid', 'fulfilled', 'cancelled', 'refunded')),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL,
    payment_id  uuid
);

CREATE INDEX order_status_history_order ON order_status_history (order_id, history_id);

-- An order as the service answers with it: its row and its items, a JSON array of
-- {sku, quantity, unitPrice} in the order given (unitPrice a string, as in proto3 JSON).
CREATE VIEW order_answers AS
SELECT o.order_id, o.user_id, o.status, o.currency, o.total, o.paid_by_payment_id, o.created_at, o.updated_at,
       (SELECT COALESCE(json_agg(json_build_object('sku', i.sku, 'quantity', i.quantity, 'unitPrice', i.unit_price::text)
                                 ORDER BY i.position), '[]')::text
        FROM order_items i WHERE i.order_id = o.order_id) AS items
FROM orders o;
