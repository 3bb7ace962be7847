-- Payments, the idempotency keys of CreatePayment, and the outbox that tells the orders
-- service. No column ever holds a card number or a CVC: a payment keeps the brand and the
-- last four digits, a key keeps a keyed fingerprint (HMAC) of its request.
CREATE TABLE payments (
    payment_id     uuid        PRIMARY KEY,
    order_id       uuid        NOT NULL,
    user_id        uuid        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('succeeded', 'declined', 'refunded')),
    amount         bigint      NOT NULL CHECK (amount >= 0),
    currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    card_brand     text        NOT NULL CHECK (card_brand ~ '^[a-z]{1,16}$'),
    card_last4     text        NOT NULL CHECK (card_last4 ~ '^[0-9]{4}$'),
    decline_reason text        NOT NULL DEFAULT '' CHECK ((status = 'declined') = (decline_reason <> '')),
    created_at     timestamptz NOT NULL,
    refunded_at    timestamptz CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);

-- An order is charged once: one succeeded (perhaps later refunded) payment at most.
CREATE UNIQUE INDEX payments_one_charge_per_order ON payments (order_id) WHERE status IN ('succeeded', 'refunded');
-- ListPaymentsForOrder: oldest first, by keyset (created_at, payment_id).
CREATE INDEX payments_order_oldest ON payments (order_id, created_at, payment_id);

-- CreatePayment's idempotency keys, scoped to the user. A key is claimed by inserting its
-- row ('running', with a lease); its first answer is then stored ('done') and replayed.
CREATE TABLE idempotency_keys (
    user_id        uuid        NOT NULL,
    key            text        NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 255),
    -- HMAC of the parsed request: the same key with another request is refused.
    fingerprint    bytea       NOT NULL,
    -- The id the payment gets; also the processor's reference, the same on a takeover.
    payment_id     uuid        NOT NULL,
    order_id       uuid        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('running', 'done')),
    -- While running: until when its holder owns it; a duplicate may take over after that.
    lease_until    timestamptz CHECK ((state = 'running') = (lease_until IS NOT NULL)),
    -- Made anew by each claim and takeover: a holder that was taken over changes nothing.
    lease_token    uuid        NOT NULL,
    -- When done: 0 and the Payment first answered (protobuf), or an error's code and message.
    -- The Payment is written with the payment, before the key is done (its delivery to
    -- orders decides the answer); a takeover finds it there.
    answer_code    smallint    CHECK ((state = 'done') = (answer_code IS NOT NULL)),
    answer         bytea,
    answer_message text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- One payment of an order runs at a time, whatever its key: a second one is refused
-- before anything is charged. Per user: only the owner's payments can charge it (another
-- user's is NOT_FOUND at the orders check), and another user must not be able to block it.
CREATE UNIQUE INDEX idempotency_keys_one_running_per_order ON idempotency_keys (user_id, order_id) WHERE state = 'running';
-- The purge of keys older than their retention.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- What the orders service must be told, written in the transaction of the change it
-- reports, and delivered (at least once; the orders side is idempotent) by the relay.
CREATE TABLE payment_outbox (
    outbox_id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('mark_paid', 'mark_refunded')),
    payment_id      uuid        NOT NULL REFERENCES payments,
    order_id        uuid        NOT NULL,
    amount          bigint      NOT NULL,
    currency        text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- While a process delivers the row: until when it owns it, and the token that proves it.
    lease_until     timestamptz,
    lease_token     uuid,
    last_error      text,
    -- When the orders service accepted it, or refused it for good (see outcome).
    settled_at      timestamptz,
    outcome         text        CHECK ((settled_at IS NULL) = (outcome IS NULL)),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payment_outbox_unsettled ON payment_outbox (order_id, outbox_id) WHERE settled_at IS NULL;
CREATE INDEX payment_outbox_due ON payment_outbox (next_attempt_at) WHERE settled_at IS NULL;
