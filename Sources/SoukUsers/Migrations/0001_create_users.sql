-- Users and their credentials. An email is unique whatever its case; it is
-- stored as the user gave it. The password hash is Argon2id in libsodium's
-- encoded form, which records its own parameters.
CREATE TABLE users (
    user_id       uuid        PRIMARY KEY,
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    full_name     text        NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    status        text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
