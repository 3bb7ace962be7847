-- Failed sign-ins per email (lower-cased), so that throttling survives a
-- restart. A row exists only while there are recent failures; a successful
-- sign-in deletes it. Unknown emails are counted too, so that throttling
-- reveals nothing about which emails have accounts.
CREATE TABLE login_failures (
    email_key         text        PRIMARY KEY,
    failures          integer     NOT NULL CHECK (failures > 0),
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz
);
